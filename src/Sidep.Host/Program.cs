using System.CommandLine;
using Sidep.Host;

ThreadPool.GetMinThreads(out int workers, out int io);
ThreadPool.SetMinThreads(Math.Max(workers, 32), io);
return await Cli.Build().Parse(args).InvokeAsync();
