using System.CommandLine;
using Sidep.Host;

return await Cli.Build().Parse(args).InvokeAsync();
