using System.Security.Cryptography;

namespace BpfTraceSim.Bpf.Loader;

/// <summary>
/// Parsed objects by content, one parse per process: the exec parser validates a world's objects
/// with the same parse its hosts then instantiate, and a scenario's host groups share one. A parsed
/// object is not changed by use (instances copy its data; per-load bytes go through
/// <see cref="BpfObject.WithGlobals"/>), so sharing it is safe. Refusals are not kept: a bad object
/// throws the same <see cref="BpfLoadException"/> every time it is opened.
/// </summary>
public sealed class BpfObjectStore(int capacity)
{
    /// <summary>The process's store (exec parser, exec hosts, scenario hosts).</summary>
    public static BpfObjectStore Shared { get; } = new(64);

    private readonly Dictionary<string, BpfObject> _byKey = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    /// <summary>The object of these ELF bytes under this name (the name is part of every message), its CO-RE relocations resolved against the simulated vmlinux.</summary>
    public BpfObject Open(byte[] elf, string name) => Open(elf, name, null, null);

    /// <summary>
    /// The object of these ELF bytes under this name, its CO-RE relocations resolved against a
    /// world's kernel BTF: <paramref name="kernelKey"/> is what that BTF is made of besides the
    /// simulated vmlinux (a world's btf_types text; null: nothing), so a parse is per object and
    /// kernel; <paramref name="kernelBtf"/> builds it on a miss (null: the simulated vmlinux).
    /// </summary>
    public BpfObject Open(byte[] elf, string name, string? kernelKey, Func<Kernel.Btf.Btf>? kernelBtf)
    {
        string key = name + "\0" + Convert.ToHexString(SHA256.HashData(elf)) + "\0" + (kernelKey ?? "");
        lock (_byKey)
            if (_byKey.TryGetValue(key, out var hit)) return hit;
        var obj = kernelBtf is null ? BpfObject.Load(elf, name) : BpfObject.Load(elf, name, kernelBtf());
        lock (_byKey)
        {
            if (_byKey.TryGetValue(key, out var raced)) return raced;
            if (_order.Count >= capacity) _byKey.Remove(_order.Dequeue());
            _byKey[key] = obj;
            _order.Enqueue(key);
        }
        return obj;
    }

    /// <summary>The object file at <paramref name="path"/>, by its content.</summary>
    public BpfObject Open(string path) => Open(File.ReadAllBytes(path), Path.GetFileName(path));
}
