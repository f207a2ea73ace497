namespace BpfTraceSim.Kernel.Printk;

/// <summary>
/// The kernel's ctype (lib/ctype.c): ASCII plus Latin-1 classes for bytes 0x80-0xff, which is what
/// the format validator and the renderer's "skip letters and digits after %p" rule see.
/// </summary>
internal static class KCtype
{
    private const byte U = 1, L = 2, D = 4, C = 8, P = 16, S = 32, X = 64, SP = 128;

    private static readonly byte[] Table = Build();

    private static byte[] Build()
    {
        var t = new byte[256];
        for (int c = 0; c < 0x20; c++) t[c] = C;
        for (int c = 9; c <= 13; c++) t[c] = C | S;
        t[0x20] = S | SP;
        for (int c = 0x21; c < 0x7f; c++) t[c] = P;
        for (int c = '0'; c <= '9'; c++) t[c] = D;
        for (int c = 'A'; c <= 'Z'; c++) t[c] = U;
        for (int c = 'a'; c <= 'z'; c++) t[c] = L;
        for (int c = 'A'; c <= 'F'; c++) t[c] |= X;
        for (int c = 'a'; c <= 'f'; c++) t[c] |= X;
        t[0x7f] = C;
        for (int c = 0x80; c < 0xa0; c++) t[c] = C;
        t[0xa0] = S | SP;
        for (int c = 0xa1; c < 0xc0; c++) t[c] = P;
        for (int c = 0xc0; c < 0xdf; c++) t[c] = U;
        t[0xd7] = P;
        t[0xdf] = L;
        for (int c = 0xe0; c <= 0xff; c++) t[c] = L;
        t[0xf7] = P;
        return t;
    }

    // '%' and every byte IsRefusedFormatByte refuses: what ends a run of plain format text.
    private static ReadOnlySpan<byte> Stops =>
    [
        1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ];

    /// <summary>True for '%' and for every byte <see cref="IsRefusedFormatByte"/> refuses.</summary>
    public static bool StopsPlainText(byte c) => c < 0x80 && Stops[c] != 0;

    public static bool IsSpace(byte c) => (Table[c] & S) != 0;
    public static bool IsPunct(byte c) => (Table[c] & P) != 0;
    public static bool IsAlnum(byte c) => (Table[c] & (U | L | D)) != 0;
    public static bool IsDigit(byte c) => c >= '0' && c <= '9';

    /// <summary>
    /// The validator's refusal: !isprint && !isspace. Bytes >= 0x80 are accepted, as measured on
    /// 6.18 (mainline source would refuse them with !isascii).
    /// </summary>
    public static bool IsRefusedFormatByte(byte c) => c >= 0x80 ? false : (c < 0x20 && !IsSpace(c)) || c == 0x7f;
}
