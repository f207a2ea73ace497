using BenchmarkDotNet.Running;

// One entry point for every benchmark class in this assembly:
//   dotnet run -c Release --project bench/Bench -- --filter '*Perf*' --job short
// and the best-of loop for the VM programs: dotnet run -c Release --project bench/Bench -- vm-best [seconds]
//   and the best-of loop for one helper call three ways: ... -- call-best [seconds] [direct|compiled|interpreted|entry-only|nullary-call]
//   and the replay load driver: dotnet run -c Release --project bench/Bench -- replay bench/replay-10m.yaml [runs]
if (args.Length > 0 && args[0] == "vm-best") BpfTraceSim.Bench.VmBestOf.Run(args);
else if (args.Length > 0 && args[0] == "call-best") BpfTraceSim.Bench.VmBestOf.RunCalls(args);
else if (args.Length > 0 && args[0] == "replay") Environment.ExitCode = BpfTraceSim.Bench.ReplayDriver.Run(args);
else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

public partial class Program;
