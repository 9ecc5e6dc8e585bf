using SharpInfer.Planner;

namespace SharpInfer.Planner.Tests;

/// <summary>The papers' qualitative results.</summary>
public class BPipeEstimatorTests
{
    private static TrainingPlan Plan(string model, int gpus, string gpu, bool flash, Action<PlanRequest>? _ = null) =>
        TrainingPlanner.Plan(new PlanRequest(ModelPresets.Get(model), new ClusterSpec(GpuPresets.Get(gpu), gpus)) { FlashAttention = flash });

    [Fact]
    public void Gpt3_96B_WithoutFlashAttention_BPipeFitsALargerMicroBatchAndIsFaster()
    {
        var plan = Plan("gpt3-96b", 48, "a100-80gb", flash: false);
        var v = plan.BPipe;
        Assert.True(plan.Chosen.Fits);
        Assert.NotNull(v.Baseline);
        Assert.NotNull(v.WithBPipe);
        Assert.True(v.WithBPipe!.Setup.MicroBatch > v.Baseline!.Setup.MicroBatch);
        Assert.True(v.Speedup > 1.05, $"speedup {v.Speedup}");
        Assert.Equal("worth it", v.Verdict);
        // Without BPipe that micro-batch does not fit the same layout.
        var plainAtBPrime = v.WithBPipe.Setup with { BPipe = false };
        Assert.False(MemoryModel.Fits(plan.Model, plainAtBPrime, plan.Cluster.Gpu));
        Assert.InRange(v.AttentionScoreShare, 0.6, 0.8); // the note's ~70 %
        Assert.True(v.AttentionScoresStored);
    }

    [Fact]
    public void Gpt3_96B_OnAFixedSixStagePipeline_BPipeDoublesTheMicroBatch()
    {
        var request = new PlanRequest(ModelPresets.Get("gpt3-96b"), new ClusterSpec(GpuPresets.Get("a100-80gb"), 48))
        { FlashAttention = false, TensorParallel = 8, PipelineParallel = 6, DataParallel = 1, GlobalBatch = 1536, Recompute = Recompute.None };
        var v = TrainingPlanner.Plan(request).BPipe;
        Assert.Equal(1, v.Baseline!.Setup.MicroBatch);
        Assert.Equal(2, v.WithBPipe!.Setup.MicroBatch);
        Assert.True(v.Speedup > 1.0);
    }

    [Fact]
    public void Llama65B_WithFlashAttention_BPipeGainIsSmallOrNegative_AndSaysWhy()
    {
        var plan = Plan("llama-65b", 64, "a100-80gb", flash: true);
        var v = plan.BPipe;
        Assert.True(plan.Chosen.Fits);
        Assert.NotNull(v.Speedup);
        Assert.True(v.Speedup < 1.05, $"speedup {v.Speedup}");
        Assert.NotEqual("worth it", v.Verdict);
        Assert.Contains(v.Reasons, r => r.Contains("flash attention", StringComparison.Ordinal));
        Assert.Contains(v.Reasons, r => r.Contains("MFU", StringComparison.Ordinal));
        Assert.False(v.AttentionScoresStored);
    }

    [Fact]
    public void Llama65B_OnAFixedLayout_LargerMicroBatchGainsLittle()
    {
        var request = new PlanRequest(ModelPresets.Get("llama-65b"), new ClusterSpec(GpuPresets.Get("a100-80gb"), 64))
        { TensorParallel = 8, PipelineParallel = 8, DataParallel = 1, GlobalBatch = 1024, MicroBatch = 1 };
        var v = TrainingPlanner.Plan(request).BPipe;
        Assert.True(v.WithBPipe!.Setup.MicroBatch > 1);
        Assert.Equal(v.Baseline!.Time.Total / v.WithBPipe.Time.Total, v.Speedup!.Value, 12);
    }

    [Fact]
    public void SinglePipelineStageHasNothingToBalance()
    {
        var request = new PlanRequest(ModelPresets.Get("llama-7b"), new ClusterSpec(GpuPresets.Get("a100-80gb"), 8))
        { TensorParallel = 8, PipelineParallel = 1 };
        Assert.Equal("no effect", TrainingPlanner.Plan(request).BPipe.Verdict);
    }

    [Fact]
    public void SearchFindsAFittingConfigAtLeastAsFastAsTheChosenOne()
    {
        var request = new PlanRequest(ModelPresets.Get("llama-13b"), new ClusterSpec(GpuPresets.Get("a100-40gb"), 16)) { Search = true };
        var plan = TrainingPlanner.Plan(request);
        Assert.NotNull(plan.SearchWithoutBPipe);
        Assert.True(plan.SearchWithoutBPipe!.Fits);
        Assert.True(plan.SearchWithoutBPipe.Time.Total <= plan.Chosen.Time.Total + 1e-9);
        Assert.True(plan.SearchWithBPipe!.Fits);
        Assert.True(plan.SearchWithBPipe.Setup.BPipe);
        // Independently: no fitting candidate is faster.
        foreach (var r in Enum.GetValues<Recompute>())
            foreach (var c in ConfigSearch.Candidates(request, r, bpipe: false).Where(c => c.Fits))
                Assert.True(c.Time.Total >= plan.SearchWithoutBPipe.Time.Total - 1e-9);
    }
}
