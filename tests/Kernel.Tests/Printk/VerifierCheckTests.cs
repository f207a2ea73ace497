using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Tests.Printk;

/// <summary>docs/kernel-semantics.md §5 load-time checks: what the verifier refuses before a printf-like helper can run.</summary>
public class VerifierCheckTests
{
    private static byte[] F(string s) => PrintkFixture.Fmt(s);

    [Fact]
    public void ZeroFmtSizeIsRefused()
    {
        Assert.Equal("R2 invalid zero-sized read", PrintkHelpers.VerifierCheck(PrintfHelper.TracePrintk, F("x"), 0, false, 0));
        Assert.Equal("R2 invalid zero-sized read", PrintkHelpers.VerifierCheck(PrintfHelper.TraceVprintk, F("x"), 0, false, 0));
        Assert.Equal("R3 invalid zero-sized read", PrintkHelpers.VerifierCheck(PrintfHelper.SeqPrintf, F("x"), 0, false, 0));
    }

    [Fact]
    public void FmtSizeLargerThanItsMemoryIsRefused()
    {
        Assert.Equal("invalid access to memory, mem_size=2 off=0 size=3",
            PrintkHelpers.VerifierCheck(PrintfHelper.TracePrintk, F("x"), 3, false, 0));
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.TracePrintk, F("x"), 2, false, 0));
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.TracePrintk, F("x"), 1, false, 0)); // no NUL: -EINVAL at run time
    }

    [Fact]
    public void ConstantNullArgsWithDataLenIsRefused()
    {
        Assert.Equal("R3 type=scalar expected=fp", PrintkHelpers.VerifierCheck(PrintfHelper.TraceVprintk, F("x"), 2, true, 8));
        Assert.Equal("R4 type=scalar expected=fp", PrintkHelpers.VerifierCheck(PrintfHelper.SeqPrintf, F("x"), 2, true, 8));
        Assert.Equal("R4 type=scalar expected=fp", PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("x"), 0, true, 8));
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.TraceVprintk, F("x"), 2, true, 0));
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("x"), 0, true, 0));
    }

    [Fact]
    public void PrintkFormatsAreNotCheckedAtLoad()
    {
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.TracePrintk, F("%q %d %d %d %d"), 15, false, 0));
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.TraceVprintk, F("%sx"), 4, false, 8));
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.SeqPrintf, F("%d %d"), 6, false, 8));
    }

    [Fact]
    public void SnprintfFormatIsValidatedAtLoad()
    {
        Assert.Equal("Invalid format string", PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("%q"), 0, false, 8));
        Assert.Equal("Invalid format string", PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("%sx"), 0, false, 8));
        Assert.Equal("Invalid format string", PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("%d %d"), 0, false, 8));
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("%d"), 0, false, 16));
        Assert.NotNull(PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("%d"), 0, false, 12));
        Assert.Equal("R3 does not point to a readonly map'", PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("%d"), 0, false, 8, fmtReadOnly: false));
        Assert.Equal("string is not zero-terminated", PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, "%d"u8.ToArray(), 0, false, 8));
    }

    [Fact]
    public void SnprintfDataLenOver96PassesTheVerifierAndFailsAtRunTime()
    {
        Assert.Null(PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, F("%d"), 0, false, 104));
        var f = new PrintkFixture();
        Assert.Equal(-Errno.EINVAL, PrintkHelpers.Snprintf(f.Ctx(), f.World.Cpu(0), f.World, new byte[8], F("%d"), new byte[104], false));
    }
}
