namespace BpfTraceSim.Kernel.Seq;

/// <summary>One helper call of an iterator program, replayable against a seq file; returns the helper's result.</summary>
public delegate long SeqStep(SeqFile m);

/// <summary>
/// The exec document's iterator: each object's helper calls are given up front (seq_printf,
/// seq_write, seq_printf_btf steps, then seq_end_object with the program's return). Objects run
/// only when read_seq reads them, exactly as bpf_seq_read would run them; each step's reported
/// return is that of its object's FIRST run.
/// </summary>
public sealed class RecordedBpfIter
{
    private sealed class Obj
    {
        public readonly List<int> Steps = new();
        public int ProgRet;
        public bool Ended;
        public bool Ran;
    }

    private readonly List<SeqStep> _steps = new();
    private readonly List<long?> _firstRun = new();
    private readonly List<Obj> _objects = new();
    private readonly BpfIterSession _session;

    public RecordedBpfIter(int seqSize = SeqFile.DefaultSize)
    {
        _session = new BpfIterSession(0, Run, null, seqSize);
    }

    public SeqFile Seq => _session.Seq;

    /// <summary>Adds a helper call to the current object; returns a handle for FirstRunReturn.</summary>
    public int AddStep(SeqStep step)
    {
        if (_objects.Count == 0 || _objects[^1].Ended) _objects.Add(new Obj());
        int handle = _steps.Count;
        _steps.Add(step);
        _firstRun.Add(null);
        _objects[^1].Steps.Add(handle);
        return handle;
    }

    /// <summary>seq_end_object: the current object's program returns progRet; the next step starts a new object.</summary>
    public void EndObject(int progRet = 0)
    {
        if (_objects.Count == 0 || _objects[^1].Ended) _objects.Add(new Obj());
        _objects[^1].ProgRet = progRet;
        _objects[^1].Ended = true;
    }

    /// <summary>The step's return in its object's first run; null while that object has not run.</summary>
    public long? FirstRunReturn(int handle) => _firstRun[handle];

    /// <summary>
    /// read_seq: reads to the end, readSize bytes per read(). An object still open (no
    /// seq_end_object yet) is read as if its program returned 0.
    /// </summary>
    public SeqReadResult Read(int readSize = 4096)
    {
        _session.ObjectCount = _objects.Count;
        return _session.ReadAll(readSize);
    }

    private int Run(long index, SeqFile m)
    {
        var o = _objects[(int)index];
        foreach (int h in o.Steps)
        {
            long r = _steps[h](m);
            if (!o.Ran) _firstRun[h] = r;
        }
        o.Ran = true;
        return o.ProgRet;
    }
}
