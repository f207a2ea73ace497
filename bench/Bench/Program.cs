using BenchmarkDotNet.Running;

// One entry point for every benchmark class in this assembly:
//   dotnet run -c Release --project bench/Bench -- --filter '*Perf*' --job short
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

public partial class Program;
