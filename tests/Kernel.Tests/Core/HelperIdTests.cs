using Xunit;

namespace BpfTraceSim.Kernel.Tests.Core;

/// <summary>Helper ids are ABI: a clang-built object calls them by the number in uapi's enum
/// bpf_func_id, so each id here must be that number (seq_printf_btf was once 128, which is
/// bpf_sk_cgroup_id).</summary>
public class HelperIdTests
{
    [Theory]
    [InlineData(HelperProtos.MapLookupElem, 1)]
    [InlineData(HelperProtos.TracePrintk, 6)]
    [InlineData(HelperProtos.PerfEventRead, 22)]
    [InlineData(HelperProtos.PerfEventOutput, 25)]
    [InlineData(HelperProtos.PerfEventReadValue, 55)]
    [InlineData(HelperProtos.SeqPrintf, 126)]
    [InlineData(HelperProtos.SeqWrite, 127)]
    [InlineData(HelperProtos.RingbufOutput, 130)]
    [InlineData(HelperProtos.RingbufQuery, 134)]
    [InlineData(HelperProtos.SeqPrintfBtf, 150)]
    [InlineData(HelperProtos.KtimeGetCoarseNs, 160)]
    [InlineData(HelperProtos.Snprintf, 165)]
    [InlineData(HelperProtos.TraceVprintk, 177)]
    [InlineData(HelperProtos.KtimeGetTaiNs, 208)]
    public void Id_is_the_uapi_number(int id, int uapi) => Assert.Equal(uapi, id);

    [Fact]
    public void Seq_printf_btf_is_found_by_its_uapi_id()
    {
        Assert.True(HelperProtos.Of(150)?.IterOnly);
        Assert.Null(HelperProtos.Of(128));
    }
}
