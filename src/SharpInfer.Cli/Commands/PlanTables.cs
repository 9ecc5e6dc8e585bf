using SharpInfer.Planner;
using Spectre.Console;

namespace SharpInfer.Cli.Commands;

/// <summary>Terminal rendering of a plan with Spectre.Console tables (plain text, so it pipes and logs cleanly).</summary>
public static class PlanTables
{
    private const double GiB = 1024.0 * 1024 * 1024;

    public static void Write(TrainingPlan plan, TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 150;

        var setup = plan.Chosen.Setup;
        var model = plan.Model;
        console.WriteLine($"{model.Name}: {model.TotalParameters / 1e9:0.##}B parameters, L={model.Layers} h={model.Hidden} a={model.Heads} kv={model.KvHeads} f={model.FfnHidden} V={model.Vocab} ({model.Mlp})");
        console.WriteLine($"{plan.Cluster.Gpus} x {plan.Cluster.Gpu.Name} ({plan.Cluster.Gpu.MemoryBytes / GiB:0.#} GiB, {plan.Cluster.Gpu.PeakFlops / 1e12:0} TFLOP/s, {plan.Cluster.Gpu.GpusPerNode} per node; MFU {plan.Cluster.Gpu.Mfu})");
        console.WriteLine($"config: {setup}  (m={setup.MicroBatches} micro-batches)");
        foreach (string choice in plan.Choices) console.WriteLine($"  chosen: {choice}");
        console.WriteLine();

        var memory = new Table().Title("Memory per GPU of each pipeline stage (GiB)");
        foreach (string column in new[] { "stage", "weights", "grads", "optimizer", "in-flight", "activations", "total", "fits", "with BPipe (same b)", "fits" })
            memory.AddColumn(new TableColumn(column).RightAligned());
        double capacity = plan.Cluster.Gpu.MemoryBytes;
        for (int i = 0; i < plan.Stages.Count; i++)
        {
            var s = plan.Stages[i];
            var balanced = plan.StagesWithBPipe[i];
            memory.AddRow(s.Stage.ToString(), G(s.Weights), G(s.Gradients), G(s.OptimizerState), s.InFlightMicroBatches.ToString("0.##"),
                G(s.Activations), G(s.Total), s.Total <= capacity ? "yes" : "NO", G(balanced.Total), balanced.Total <= capacity ? "yes" : "NO");
        }
        console.Write(memory);
        console.WriteLine($"fits: {(plan.Chosen.Fits ? "yes" : "NO")} (peak {plan.Chosen.PeakStage.Total / GiB:0.00} GiB on stage {plan.Chosen.PeakStage.Stage} of {capacity / GiB:0.#} GiB, {plan.Chosen.PeakStage.Reserved / GiB:0.#} GiB reserve included)");
        console.WriteLine();

        var t = plan.Chosen.Time;
        var time = new Table().Title("Step time");
        time.AddColumn("part").AddColumn(new TableColumn("value").RightAligned());
        time.AddRow("compute per micro-batch (busiest stage)", $"{t.ComputePerMicroBatch * 1000:0.0} ms at MFU {t.Mfu:P1}");
        time.AddRow("pipeline compute incl. bubble", $"{t.PipelineCompute:0.000} s (bubble {t.BubbleFraction:P1})");
        time.AddRow("p2p activation transfers", $"{t.PointToPoint:0.000} s");
        time.AddRow("BPipe transfers exposed", $"{t.BPipeTransferExposed:0.000} s of {t.BPipeTransferTotal:0.000} s");
        time.AddRow("data-parallel all-reduce", $"{t.DataParallelAllReduce:0.000} s");
        time.AddRow("step", $"{t.Total:0.000} s");
        time.AddRow("throughput", $"{t.TokensPerSecond:N0} tokens/s, model FLOPs utilisation {t.ModelFlopsUtilization:P1}");
        console.Write(time);
        console.WriteLine();

        var v = plan.BPipe;
        var bpipe = new Table().Title($"BPipe verdict: {v.Verdict}{(v.Speedup is double sp ? $" (predicted speedup {sp:0.000}x)" : "")}");
        bpipe.AddColumn("").AddColumn("without BPipe").AddColumn("with BPipe");
        bpipe.AddRow("micro-batch", v.Baseline?.Setup.MicroBatch.ToString() ?? "-", v.WithBPipe?.Setup.MicroBatch.ToString() ?? "-");
        bpipe.AddRow("recompute", v.Baseline?.Setup.Recompute.ToString().ToLowerInvariant() ?? "-", v.WithBPipe?.Setup.Recompute.ToString().ToLowerInvariant() ?? "-");
        bpipe.AddRow("peak memory (GiB)", v.Baseline is { } b0 ? G(b0.PeakStage.Total) : "-", v.WithBPipe is { } b1 ? G(b1.PeakStage.Total) : "-");
        bpipe.AddRow("step (s)", v.Baseline?.Time.Total.ToString("0.000") ?? "-", v.WithBPipe?.Time.Total.ToString("0.000") ?? "-");
        bpipe.AddRow("MFU", v.Baseline?.Time.Mfu.ToString("P1") ?? "-", v.WithBPipe?.Time.Mfu.ToString("P1") ?? "-");
        bpipe.AddRow("bubble", v.Baseline?.Time.BubbleFraction.ToString("P1") ?? "-", v.WithBPipe?.Time.BubbleFraction.ToString("P1") ?? "-");
        console.Write(bpipe);
        foreach (string reason in v.Reasons) console.WriteLine($"  - {reason}");
        console.WriteLine();

        if (plan.SearchWithoutBPipe != null || plan.SearchWithBPipe != null)
        {
            var search = new Table().Title("Search: fastest configuration that fits");
            search.AddColumn("").AddColumn("config").AddColumn(new TableColumn("peak GiB").RightAligned())
                .AddColumn(new TableColumn("step s").RightAligned()).AddColumn(new TableColumn("tokens/s").RightAligned());
            foreach (var (label, e) in new[] { ("without BPipe", plan.SearchWithoutBPipe), ("with BPipe", plan.SearchWithBPipe) })
                search.AddRow(label, e?.Setup.ToString() ?? "nothing fits", e is null ? "-" : G(e.PeakStage.Total),
                    e?.Time.Total.ToString("0.000") ?? "-", e?.Time.TokensPerSecond.ToString("N0") ?? "-");
            console.Write(search);
            console.WriteLine();
        }

        var inf = plan.Inference;
        console.WriteLine($"Serving: KV cache {inf.KvBytesPerToken / 1024:0.#} KiB per token; weights {inf.WeightBytes / GiB:0.0} GiB; " +
            $"one device holds {(inf.SingleDeviceMaxTokens > 0 ? $"{inf.SingleDeviceMaxTokens:N0} tokens of KV (batch x context)" : "not even the weights")}");
        var serve = new Table().Title($"Serving split over {inf.Devices} device(s): {inf.MaxTokens:N0} tokens of KV, {inf.MaxBatchAtContext:N0} sequences of {inf.Context}");
        serve.AddColumn("device").AddColumn("layers").AddColumn(new TableColumn("weights GiB").RightAligned()).AddColumn(new TableColumn("KV tokens").RightAligned());
        foreach (var s in inf.Stages)
            serve.AddRow(s.Device.ToString(), $"{s.FirstLayer}-{s.FirstLayer + s.LayerCount - 1}", G(s.WeightBytes), s.KvCapacityTokens.ToString("N0"));
        console.Write(serve);
    }

    private static string G(double bytes) => (bytes / GiB).ToString("0.00");
}
