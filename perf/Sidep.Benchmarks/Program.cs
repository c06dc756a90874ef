using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Sidep.Benchmarks.Hl7ParserBenchmarks).Assembly).Run(args);
