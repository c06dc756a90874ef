using System.CommandLine;
using Sidep.Host;

// Whatever Sidep creates (journal, database, research files, secrets) is readable by its own user only, from the first byte.
Sidep.Gateway.DataDirectory.RestrictNewFiles();
ThreadPool.GetMinThreads(out int workers, out int io);
ThreadPool.SetMinThreads(Math.Max(workers, 32), io);
return await Cli.Build().Parse(args).InvokeAsync();
