namespace SharpInfer.Planner;

/// <summary>
/// PNG chart of memory per pipeline stage without and with BPipe (ScottPlot 5 on SkiaSharp).
/// Stacked bars: model states (weights, gradients, optimizer) and activations; a line marks the GPU's memory.
/// </summary>
public static class MemoryChart
{
    private const double GiB = 1024.0 * 1024 * 1024;

    /// <summary>Writes the chart; throws <see cref="PlannerInputException"/> with a clear message if no PNG can be produced.</summary>
    public static void WritePng(TrainingPlan plan, string path, int width = 1000, int height = 560)
    {
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir != null) Directory.CreateDirectory(dir);
            var plot = Build(plan);
            plot.SavePng(path, width, height);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new PlannerInputException($"cannot draw the PNG chart: SkiaSharp's native library could not be loaded ({e.GetBaseException().Message}); install SkiaSharp.NativeAssets.Linux.NoDependencies and fonts-dejavu-core", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PlannerInputException($"cannot write the chart to '{path}': {e.Message}", e);
        }
    }

    private static ScottPlot.Plot Build(TrainingPlan plan)
    {
        var plot = new ScottPlot.Plot();
        var statesColor = ScottPlot.Color.FromHex("#4C72B0");
        var activationColor = ScottPlot.Color.FromHex("#DD8452");
        var bpipeStatesColor = ScottPlot.Color.FromHex("#8DA9D6");
        var bpipeActivationColor = ScottPlot.Color.FromHex("#F2B48A");

        var withBPipe = plan.StagesAtBPipeMicroBatch ?? plan.StagesWithBPipe;
        int bPlain = plan.Chosen.Setup.MicroBatch;
        int bBPipe = plan.BPipeMicroBatchSameLayout ?? bPlain;
        var bars = new List<ScottPlot.Bar>();
        var ticks = new List<ScottPlot.Tick>();
        for (int i = 0; i < plan.StagesWithoutBPipe.Count; i++)
        {
            double x = i * 3;
            AddStack(bars, x, plan.StagesWithoutBPipe[i], statesColor, activationColor);
            AddStack(bars, x + 1, withBPipe[i], bpipeStatesColor, bpipeActivationColor);
            ticks.Add(new ScottPlot.Tick(x + 0.5, $"stage {i}", isMajor: true));
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());

        var capacity = plot.Add.HorizontalLine(plan.Cluster.Gpu.MemoryBytes / GiB);
        capacity.LineColor = ScottPlot.Colors.Red;
        capacity.LinePattern = ScottPlot.LinePattern.Dashed;

        plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = "weights+grads+optimizer+reserve", FillColor = statesColor });
        plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = $"activations, no BPipe (b={bPlain})", FillColor = activationColor });
        plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = $"activations, BPipe (b'={bBPipe})", FillColor = bpipeActivationColor });
        plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = $"{plan.Cluster.Gpu.Name} memory", LineColor = ScottPlot.Colors.Red, LineWidth = 2 });
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);

        plot.Title($"{plan.Model.Name}: memory per pipeline stage (left: without BPipe, right: with BPipe)");
        plot.YLabel("GiB per GPU");
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsY(0, Math.Max(plan.Cluster.Gpu.MemoryBytes, Math.Max(plan.StagesWithoutBPipe.Max(s => s.Total), withBPipe.Max(s => s.Total))) / GiB * 1.25);
        return plot;
    }

    private static void AddStack(List<ScottPlot.Bar> bars, double x, StageMemory stage, ScottPlot.Color statesColor, ScottPlot.Color activationColor)
    {
        double states = (stage.ModelStates + stage.Reserved) / GiB;
        bars.Add(new ScottPlot.Bar { Position = x, ValueBase = 0, Value = states, FillColor = statesColor, Size = 0.9 });
        bars.Add(new ScottPlot.Bar { Position = x, ValueBase = states, Value = states + stage.Activations / GiB, FillColor = activationColor, Size = 0.9 });
    }
}
