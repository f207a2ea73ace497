using System.Diagnostics;
using BpfTraceSim.Bpf.Vm;

namespace BpfTraceSim.Bench;

/// <summary>
/// `dotnet run -c Release --project bench/Bench -- vm-best [seconds]`: the VmProgramBenchmarks cases
/// (and BpfBenchmarks' loop.bpf.o) in a plain loop, reporting the best run of each, which moves
/// less than a mean when other processes share the cores. Not a replacement for the BenchmarkDotNet
/// numbers: both go into bench/README.md.
/// </summary>
public static class VmBestOf
{
    public static void Run(string[] args)
    {
        double seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2;
        Console.WriteLine($"load average: {LoadAverage()}");
        Console.WriteLine($"{"case",-12} {"form",-12} {"best us",10} {"median us",10} {"M insns/s (best)",18} {"runs",6}");
        foreach (var p in VmProgramBenchmarks.Programs)
        {
            var b = new VmProgramBenchmarks { Case = p };
            b.Setup();
            Measure(p.ToString(), "interpreter", p.Instructions, () => b.Interpreter(), seconds);
            Measure(p.ToString(), "compiled", p.Instructions, () => b.Compiled(), seconds);
        }
        var loop = new BpfBenchmarks();
        loop.Setup();
        Measure("loop.bpf.o", "interpreter", BpfBenchmarks.InstructionsPerRun, () => loop.Interpreter(), seconds);
        Measure("loop.bpf.o", "compiled", BpfBenchmarks.InstructionsPerRun, () => loop.Compiled(), seconds);
        Console.WriteLine($"load average: {LoadAverage()}");
    }

    /// <summary>
    /// `-- call-best [seconds]`: BpfHelperCallBenchmarks' three ways to make one bpf_perf_event_output,
    /// in batches of 10,000 calls taken in turn (direct, compiled, interpreted, again), each form's
    /// best batch in ns per call and its ratio to the direct call. Taking the forms in turn and the
    /// best batch keeps the ratio steady when other processes share the cores.
    /// </summary>
    public static void RunCalls(string[] args)
    {
        double seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5;
        var b = new BpfHelperCallBenchmarks();
        b.Setup();
        Func<long>[] forms = [b.KernelModelDirect, b.CompiledProgram, b.InterpretedProgram, b.CompiledEntryOnly, b.CompiledNullaryCall];
        string[] names = ["direct", "compiled", "interpreted", "entry-only", "nullary-call"];
        if (args.Length > 2)
        {
            // one form alone, for a profiler: call-best 6 compiled
            int only = Array.IndexOf(names, args[2]);
            if (only < 0) throw new ArgumentException($"form '{args[2]}': one of {string.Join(", ", names)}");
            forms = [forms[only]];
            names = [names[only]];
        }
        const int Batch = 10_000;
        var best = new double[forms.Length];
        Array.Fill(best, double.MaxValue);
        for (int w = 0; w < 200; w++) foreach (var f in forms) f(); // tiered JIT warm-up
        Console.WriteLine($"load average: {LoadAverage()}");
        var total = Stopwatch.StartNew();
        int rounds = 0;
        while (total.Elapsed.TotalSeconds < seconds || rounds < 20)
        {
            for (int k = 0; k < forms.Length; k++)
            {
                var f = forms[k];
                long t0 = Stopwatch.GetTimestamp();
                for (int i = 0; i < Batch; i++) f();
                best[k] = Math.Min(best[k], Stopwatch.GetElapsedTime(t0).TotalNanoseconds / Batch);
            }
            rounds++;
        }
        Console.WriteLine($"{"form",-12} {"best ns/call",12} {"ratio",6}   ({rounds} rounds of {Batch:N0} calls each)");
        for (int k = 0; k < forms.Length; k++) Console.WriteLine($"{names[k],-12} {best[k],12:F2} {best[k] / best[0],6:F2}");
        Console.WriteLine($"load average: {LoadAverage()}");
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static void Measure(string name, string form, ulong insns, Func<long> run, double seconds)
    {
        // warm-up: the tiered JIT needs ~40 runs before the interpreter reaches its speed
        var warm = Stopwatch.StartNew();
        for (int k = 0; k < 60 && warm.Elapsed.TotalSeconds < seconds; k++) run();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds || times.Count < 5)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
        }
        times.Sort();
        double best = times[0], median = times[times.Count / 2];
        Console.WriteLine($"{name,-12} {form,-12} {best,10:F1} {median,10:F1} {insns / best,18:F0} {times.Count,6}");
    }
}
