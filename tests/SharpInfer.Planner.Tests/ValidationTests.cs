using SharpInfer.Planner;

namespace SharpInfer.Planner.Tests;

public class ValidationTests
{
    private static PlanRequest Request(int gpus = 64) => new(ModelPresets.Get("llama-65b"), new ClusterSpec(GpuPresets.Get("a100-80gb"), gpus));

    [Theory]
    [InlineData(8, 4, 3, null)]   // t*p*d = 96 != 64
    [InlineData(8, 3, null, null)] // 80 layers not divisible by 3 (and 24 does not divide 64)
    [InlineData(3, null, null, null)] // t=3 does not divide 64 heads
    [InlineData(16, null, null, null)] // t beyond a node
    public void ImpossibleParallelSizesAreRejected(int? t, int? p, int? d, int? b)
    {
        var request = Request() with { TensorParallel = t, PipelineParallel = p, DataParallel = d, MicroBatch = b };
        var e = Assert.Throws<PlannerInputException>(() => TrainingPlanner.Plan(request));
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void LayersNotDivisibleByPipelineSizeNamesBoth()
    {
        var request = Request(40) with { TensorParallel = 8, PipelineParallel = 5, DataParallel = 1 };
        // 80 layers / 5 = 16 is fine; use a 7-layer pipeline on 56 GPUs instead.
        TrainingPlanner.Plan(request);
        var bad = Request(56) with { TensorParallel = 8, PipelineParallel = 7, DataParallel = 1 };
        var e = Assert.Throws<PlannerInputException>(() => TrainingPlanner.Plan(bad));
        Assert.Contains("80 layers", e.Message);
        Assert.Contains("p=7", e.Message);
    }

    [Fact]
    public void GlobalBatchMustDivideByMicroBatchTimesD()
    {
        var request = Request() with { TensorParallel = 8, PipelineParallel = 4, DataParallel = 2, MicroBatch = 3, GlobalBatch = 64 };
        Assert.Throws<PlannerInputException>(() => TrainingPlanner.Plan(request));
    }

    [Fact]
    public void UnknownPresetsAreRejected()
    {
        Assert.Throws<PlannerInputException>(() => ModelPresets.Get("gpt-5"));
        Assert.Throws<PlannerInputException>(() => GpuPresets.Get("tpu-v5"));
        Assert.Equal("A100-80GB", GpuPresets.Get("A100_80GB").Name);
    }

    [Fact]
    public void DefaultsAreReported()
    {
        var plan = TrainingPlanner.Plan(Request());
        Assert.Contains(plan.Choices, c => c.StartsWith("t=", StringComparison.Ordinal));
        Assert.Contains(plan.Choices, c => c.StartsWith("p=", StringComparison.Ordinal));
        Assert.Contains(plan.Choices, c => c.StartsWith("b=", StringComparison.Ordinal));
        Assert.Equal(64, plan.Chosen.Setup.Gpus);
        Assert.Equal(0, plan.Model.Layers % plan.Chosen.Setup.PipelineParallel);
    }
}
