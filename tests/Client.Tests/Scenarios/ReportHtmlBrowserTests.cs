using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using BpfTraceSim.Client.Reports;

namespace BpfTraceSim.Client.Tests.Scenarios;

/// <summary>A [Fact] that is skipped, saying why, when no headless Chromium is installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Path is null) Skip = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)";
    }
}

internal static class Chromium
{
    public static readonly string? Path = Find();

    private static string? Find()
    {
        foreach (var name in new[] { "chromium", "chromium-browser", "google-chrome" })
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                string p = System.IO.Path.Combine(dir, name);
                if (File.Exists(p)) return p;
            }
        return null;
    }

    /// <summary>The DOM after load, as headless Chromium serialises it.</summary>
    public static async Task<string> DumpDom(string htmlFile)
    {
        string profile = Directory.CreateTempSubdirectory("bpfsim-chromium-").FullName;
        try
        {
            var psi = new ProcessStartInfo(Path!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                         "--window-size=1200,900", "--dump-dom", new Uri(htmlFile).AbsoluteUri })
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            try
            {
                await p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException("chromium did not finish in 90 s: " + await stderr);
            }
            string dom = await stdout;
            Assert.True(dom.Length > 0, "chromium printed no DOM: " + await stderr);
            return dom;
        }
        finally
        {
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>report.html opened in a real headless browser: the plots are there and drawn at a size.</summary>
[Collection(ScenarioSiloCollection.Name)]
public sealed class ReportHtmlBrowserTests(ScenarioSiloFixture silo)
{
    // Appended to a copy of the page: measures every plot's SVG once the page has laid out.
    private const string Probe = """
        <script>
        const rows = [...document.querySelectorAll('figure.plot')].map(f => {
          const svg = f.querySelector('svg');
          const r = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
          return { id: f.id, title: f.dataset.title, width: r.width, height: r.height,
                   shapes: svg ? svg.querySelectorAll('path, rect, image, line, polyline').length : 0,
                   texts: svg ? [...svg.querySelectorAll('text')].map(t => t.textContent.trim()) : [] };
        });
        const pre = document.createElement('pre');
        pre.id = 'probe';
        pre.textContent = JSON.stringify(rows);
        document.body.appendChild(pre);
        </script>
        """;

    [ChromiumFact]
    public async Task Plots_render_with_size_and_titles_in_chromium()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example("quick.yaml"), "--out", tmp.Path, "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        string html = File.ReadAllText(Path.Combine(tmp.Path, "report.html"));
        // Self-contained: no script, stylesheet or image from anywhere else.
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotMatch(new Regex("(src|href)=\"(https?:|//|file:)"), html);

        string probed = Path.Combine(tmp.Path, "probe.html");
        File.WriteAllText(probed, html.Replace("</body>", Probe + "</body>"));
        string dom = await Chromium.DumpDom(probed);
        var m = Regex.Match(dom, "<pre id=\"probe\">(.*?)</pre>", RegexOptions.Singleline);
        Assert.True(m.Success, "the probe did not run: " + dom[..Math.Min(dom.Length, 2000)]);
        using var doc = JsonDocument.Parse(System.Net.WebUtility.HtmlDecode(m.Groups[1].Value));
        var plots = doc.RootElement.EnumerateArray().ToDictionary(p => p.GetProperty("title").GetString()!);

        string[] expected =
        [
            ReportHtml.Titles.LossHeatCpu,
            ReportHtml.Titles.Helper("bpf_perf_event_output"),
            ReportHtml.Titles.Helper("bpf_trace_printk"),
            ReportHtml.Titles.RingFill,
            ReportHtml.Titles.ConsumerLag,
            ReportHtml.Titles.Records,
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), plots.Keys.Order(StringComparer.Ordinal));
        foreach (var title in expected)
        {
            var p = plots[title];
            Assert.True(p.GetProperty("width").GetDouble() >= 300, $"{title}: width {p.GetProperty("width")}");
            Assert.True(p.GetProperty("height").GetDouble() >= 150, $"{title}: height {p.GetProperty("height")}");
            Assert.True(p.GetProperty("shapes").GetInt32() > 5, $"{title}: {p.GetProperty("shapes")} shapes");
            // The plot's own title is drawn inside the SVG.
            Assert.Contains(title, p.GetProperty("texts").EnumerateArray().Select(t => t.GetString()));
        }
        // The heat map holds its bitmap (one pixel per CPU and window).
        Assert.Matches("<image [^>]*width=\"10\" height=\"2\"", Regex.Match(html, "<figure class=\"plot\" id=\"loss-heatmap\".*?</figure>", RegexOptions.Singleline).Value);
    }
}
