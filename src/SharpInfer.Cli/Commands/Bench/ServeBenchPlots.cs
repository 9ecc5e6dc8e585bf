using SharpInfer.Engine.Simulation;

namespace SharpInfer.Cli.Commands.Bench;

/// <summary>
/// The PNG charts of `bench serve` (ScottPlot 5): each policy's per-client service over time, the backlogged
/// service gap against each policy's bound, TTFT per client per policy, and throughput per policy.
/// </summary>
internal static class ServeBenchPlots
{
    private const int Width = 1100, Height = 600;
    /// <summary>Above this many clients a legend would hide the chart.</summary>
    private const int MaxLegendClients = 12;

    /// <summary>Writes the charts of one run (a set of policies on one workload) into <paramref name="directory"/>; returns the files.</summary>
    public static List<string> Write(string directory, string prefix, string title, IReadOnlyList<PolicyReport> reports)
    {
        var files = new List<string>();
        try
        {
            Directory.CreateDirectory(directory);
            foreach (var report in reports)
                files.Add(Save(ServiceOverTime(report, title), Path.Combine(directory, $"{prefix}service-{report.Policy}.png")));
            files.Add(Save(DifferenceVersusBound(reports, title), Path.Combine(directory, $"{prefix}service-difference.png")));
            files.Add(Save(Ttft(reports, title, p99: true), Path.Combine(directory, $"{prefix}ttft-p99.png")));
            files.Add(Save(Ttft(reports, title, p99: false), Path.Combine(directory, $"{prefix}ttft-p50.png")));
            files.Add(Save(Throughput(reports, title), Path.Combine(directory, $"{prefix}throughput.png")));
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new CliInputException($"cannot draw PNG charts: SkiaSharp's native library could not be loaded ({e.GetBaseException().Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"cannot write charts to '{directory}': {e.Message}");
        }
        return files;
    }

    private static string Save(ScottPlot.Plot plot, string path)
    {
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static ScottPlot.Color Color(int i) => new ScottPlot.Palettes.Category10().GetColor(i);

    private static ScottPlot.Plot ServiceOverTime(PolicyReport report, string title)
    {
        var plot = new ScottPlot.Plot();
        int i = 0;
        foreach (var (client, service) in report.Timeline.Service)
        {
            var line = plot.Add.Scatter(report.Timeline.Times, service, Color(i++));
            line.MarkerSize = 0;
            line.LineWidth = 2;
            if (report.Timeline.Service.Count <= MaxLegendClients) line.LegendText = client;
        }
        var end = plot.Add.VerticalLine(report.Seconds);
        end.LinePattern = ScottPlot.LinePattern.Dashed;
        end.LineColor = ScottPlot.Colors.Gray;
        end.LegendText = "end of arrivals";
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plot.Title($"{report.Policy}: service received per client ({title})");
        plot.XLabel("time (s)");
        plot.YLabel("service (w_p x computed prompt tokens + w_q x generated tokens)");
        return plot;
    }

    private static ScottPlot.Plot DifferenceVersusBound(IReadOnlyList<PolicyReport> reports, string title)
    {
        var plot = new ScottPlot.Plot();
        for (int i = 0; i < reports.Count; i++)
        {
            var r = reports[i];
            var line = plot.Add.Scatter(r.Timeline.Times, r.Timeline.BackloggedDifference, Color(i));
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = $"{r.Policy} (max {r.MaxServiceDifference:F0})";
            var bound = plot.Add.HorizontalLine(r.Bound);
            bound.LineColor = Color(i);
            bound.LinePattern = ScottPlot.LinePattern.Dashed;
            bound.LegendText = r.BoundPromised
                ? $"{r.Policy} bound {(r.Policy == "dlpm" ? "2(Q+U)" : "2U")} = {r.Bound:F0}"
                : $"2U = {r.Bound:F0} (not promised by {r.Policy})";
        }
        plot.ShowLegend(ScottPlot.Edge.Right); // outside the data: the largest gaps are where a corner legend would sit
        plot.Title($"Largest service gap between backlogged clients vs the bound ({title})");
        plot.XLabel("time (s)");
        plot.YLabel("|ΔW_a - ΔW_b| over backlogged intervals (service units)");
        plot.Axes.Margins(bottom: 0);
        return plot;
    }

    private static ScottPlot.Plot Ttft(IReadOnlyList<PolicyReport> reports, string title, bool p99)
    {
        var plot = new ScottPlot.Plot();
        var clients = reports.SelectMany(r => r.Clients.Select(c => c.Client)).Distinct().ToList();
        double groupWidth = reports.Count + 1;
        var bars = new List<ScottPlot.Bar>();
        for (int p = 0; p < reports.Count; p++)
        {
            foreach (var c in reports[p].Clients)
            {
                int k = clients.IndexOf(c.Client);
                bars.Add(new ScottPlot.Bar { Position = k * groupWidth + p, Value = p99 ? c.TtftP99 : c.TtftP50, FillColor = Color(p), Size = 0.9 });
            }
            plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = reports[p].Policy, FillColor = Color(p) });
        }
        plot.Add.Bars(bars);
        var ticks = clients.Select((c, k) => new ScottPlot.Tick(k * groupWidth + (reports.Count - 1) / 2.0, clients.Count <= 16 || k % (clients.Count / 16 + 1) == 0 ? c : "")).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plot.Title($"{(p99 ? "P99" : "P50")} time to first token per client and policy ({title})");
        plot.XLabel("client");
        plot.YLabel($"{(p99 ? "P99" : "P50")} TTFT (s)");
        plot.Axes.Margins(bottom: 0);
        return plot;
    }

    private static ScottPlot.Plot Throughput(IReadOnlyList<PolicyReport> reports, string title)
    {
        var plot = new ScottPlot.Plot();
        var bars = reports.Select((r, i) => new ScottPlot.Bar
        {
            Position = i, Value = r.TokensPerSecond, FillColor = Color(i), Size = 0.7,
            Label = $"{r.TokensPerSecond:F0} tok/s, {r.RequestsPerSecond:F2} req/s",
        }).ToList();
        var series = plot.Add.Bars(bars);
        series.ValueLabelStyle.FontSize = 14;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(reports.Select((r, i) => new ScottPlot.Tick(i, r.Policy)).ToArray());
        plot.Title($"Throughput per policy ({title})");
        plot.XLabel("policy");
        plot.YLabel("tokens/s (prompt + output of completed requests)");
        plot.Axes.Margins(bottom: 0, top: 0.15);
        return plot;
    }
}
