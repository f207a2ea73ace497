namespace BpfTraceSim.Kernel;

/// <summary>
/// Memory a map's kernel object lends to the program outside the map's values: a ringbuf's
/// reserved samples (the verifier's PTR_TO_MEM of the reservation's size, valid until it is
/// submitted or discarded). The array must be pinned: the VM addresses it directly.
/// </summary>
public interface IProgramMemory
{
    /// <summary>The pinned array and offset holding [addr, addr+len), or false when the program may not touch it.</summary>
    bool TryProgramMemory(ulong addr, ulong len, out byte[] array, out int offset);
}
