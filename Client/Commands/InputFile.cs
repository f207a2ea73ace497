using BpfTraceSim.Kernel;

namespace BpfTraceSim.Client.Commands;

/// <summary>Input the user can fix that is not a positioned document error: exit 2 with this one line.</summary>
internal sealed class InputException(string message) : Exception(message);

/// <summary>Reads a document file for a command: refuses directories and files past the document size limit up front.</summary>
internal static class InputFile
{
    public static async Task<byte[]> ReadAsync(string path, CancellationToken ct)
    {
        Check(path);
        try { return await File.ReadAllBytesAsync(path, ct); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read {path}: {ex.Message}");
        }
    }

    public static byte[] Read(string path)
    {
        Check(path);
        try { return File.ReadAllBytes(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read {path}: {ex.Message}");
        }
    }

    private static void Check(string path)
    {
        if (Directory.Exists(path)) throw new InputException($"cannot read {path}: it is a directory");
        if (!File.Exists(path)) throw new InputException($"cannot read {path}: no such file");
        long size = new FileInfo(path).Length;
        if (size > SimLimits.MaxDocumentBytes)
            throw new InputException($"{path} is {CostLimits.Bytes(size)}, more than the {CostLimits.Bytes(SimLimits.MaxDocumentBytes)} a document may be");
    }

    /// <summary>Standard input, at most the document size limit.</summary>
    public static async Task<byte[]> ReadStdinAsync(CancellationToken ct)
    {
        using var ms = new MemoryStream();
        var buf = new byte[81920];
        var stdin = Console.OpenStandardInput();
        int n;
        while ((n = await stdin.ReadAsync(buf, ct)) > 0)
        {
            ms.Write(buf, 0, n);
            if (ms.Length > SimLimits.MaxDocumentBytes)
                throw new InputException($"standard input holds more than the {CostLimits.Bytes(SimLimits.MaxDocumentBytes)} a document may be");
        }
        return ms.ToArray();
    }
}
