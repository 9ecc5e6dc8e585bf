using SharpInfer.Engine.Simulation;

namespace SharpInfer.Engine.Tests.Simulation;

/// <summary>The measures `bench serve` reports: the step-cost fit, Jain's index, the backlogged service gap and the bounds.</summary>
public class ServeBenchMathTests
{
    [Fact]
    public void FitRecoversTheCoefficientsOfSyntheticSteps()
    {
        var truth = new StepCostModel(0.004, 2.5e-3, 1.2e-3, 3e-7);
        var random = new Random(3);
        var timings = new List<StepTiming>();
        foreach (var shape in StepCostModel.CalibrationGrid(128, 2048))
        {
            double seconds = truth.StepSeconds(shape.PrefillTokens, shape.DecodeRequests, shape.ContextTokens);
            timings.Add(new StepTiming(shape.PrefillTokens, shape.DecodeRequests, shape.ContextTokens, seconds * (1 + 0.002 * (random.NextDouble() - 0.5))));
        }
        var fitted = StepCostModel.Fit(timings);
        Assert.Equal(truth.FixedSeconds, fitted.FixedSeconds, 0.0005);
        Assert.Equal(truth.SecondsPerPrefillToken, fitted.SecondsPerPrefillToken, 2e-5);
        Assert.Equal(truth.SecondsPerDecodeToken, fitted.SecondsPerDecodeToken, 5e-5);
        Assert.Equal(truth.SecondsPerContextToken, fitted.SecondsPerContextToken, 5e-8);
    }

    [Fact]
    public void FitKeepsCoefficientsNonNegative()
    {
        // Context makes steps cheaper here, which no engine does: the fit must clamp d to 0, not go negative.
        var timings = new List<StepTiming>
        {
            new(16, 0, 16, 0.010), new(64, 0, 64, 0.030), new(128, 0, 1024, 0.050),
            new(0, 1, 32, 0.006), new(0, 16, 512, 0.012), new(0, 4, 4096, 0.004),
        };
        var fitted = StepCostModel.Fit(timings);
        Assert.True(fitted.FixedSeconds >= 0 && fitted.SecondsPerPrefillToken >= 0 && fitted.SecondsPerDecodeToken >= 0 && fitted.SecondsPerContextToken >= 0);
        Assert.Throws<ArgumentException>(() => StepCostModel.Fit(timings.Take(3).ToList()));
    }

    [Fact]
    public void JainIsOneForEqualServiceAndOneOverNForOneWinner()
    {
        Assert.Equal(1, FairnessMath.Jain([5, 5, 5, 5]), 12);
        Assert.Equal(0.25, FairnessMath.Jain([10, 0, 0, 0]), 12);
        Assert.Equal(0.9, FairnessMath.Jain([1, 2]), 12); // 9 / (2 * 5)
    }

    [Fact]
    public void BackloggedDifferenceCountsOnlyIntervalsWhereBothWait()
    {
        string[] clients = ["a", "b", "c"];
        // a races ahead of b while both wait (gap 0 -> 30), then b is idle while a gains 1000 (not counted), then both
        // wait again and b catches up by 50. c never waits, so it is never compared.
        double[][] service =
        [
            [0, 0, 0], [10, 0, 0], [30, 0, 0], [1030, 0, 500], [1030, 0, 900], [1030, 50, 900],
        ];
        bool[][] backlogged =
        [
            [true, true, false], [true, true, false], [true, true, false], [true, false, false], [true, true, false], [true, true, false],
        ];
        var result = FairnessMath.MaxBackloggedDifference(clients, service, backlogged);
        Assert.Equal(50, result.Max, 12);
        Assert.Equal("a", result.ClientA);
        Assert.Equal("b", result.ClientB);
        Assert.Equal([0, 10, 30, 0, 0, 50], result.Series);
    }

    [Fact]
    public void BoundsAreTwoUForVtcAndTwoQPlusUForDlpm()
    {
        double unit = FairnessMath.Unit(1, 300, 2, 1000); // max(300, 2000)
        Assert.Equal(2000, unit);
        Assert.Equal(4000, FairnessMath.Bound("vtc", unit, 512));
        Assert.Equal(5024, FairnessMath.Bound("dlpm", unit, 512));
        Assert.True(FairnessMath.PromisesBound("dlpm"));
        Assert.False(FairnessMath.PromisesBound("lpm"));
    }

    [Fact]
    public void ReportOfASimulationHasEveryClientAndAFairVtc()
    {
        var workload = BenchWorkloads.Build(new BenchWorkloadOptions { Kind = "doc-qa", Clients = 2, Rate = 2, Seconds = 20, PromptTokens = 256, FloodClient = true });
        var options = new SimulatorOptions { TotalPages = 512, MaxBatchSize = 16, TokenBudget = 128, Cost = new StepCostModel(0.01, 1e-3, 1e-3, 0) };
        var result = new ServingSimulator(SharpInfer.Engine.Scheduling.SchedulingPolicies.Create("vtc"), options).Run(workload);
        var report = ServeBenchReports.FromSimulation(result, 20, 2048, options.TokenBudget);
        Assert.Equal(["client0", "client1", "flood"], report.Clients.Select(c => c.Client).Order());
        Assert.True(report.MaxServiceDifference <= report.Bound, $"{report.MaxServiceDifference} > {report.Bound}");
        Assert.True(report.TokensPerSecond > 0 && report.Jain is > 0 and <= 1);
    }
}
