using SharpInfer.Planner;

namespace SharpInfer.Planner.Tests;

public class MemoryModelTests
{
    private static readonly ModelSpec Gpt = ModelSpec.Gpt("gpt", 48, 4096, 32);

    private static TrainingSetup Setup(int p, int m, bool bpipe = false, PipelineSchedule schedule = PipelineSchedule.OneFOneB, int v = 1, int d = 1) =>
        new(2, p, d, 1, m * d, 1024, schedule, v, Recompute.None, true, true, true, bpipe);

    [Fact]
    public void OneFOneBKeepsMinOfMAndPMinusIMicroBatches()
    {
        foreach (int p in new[] { 1, 2, 4, 6, 8, 12, 16 })
        foreach (int m in new[] { 1, 3, 8, 64 })
            for (int i = 0; i < p; i++)
                Assert.Equal(Math.Min(m, p - i), MemoryModel.InFlightMicroBatches(Setup(p, m), i));
    }

    [Fact]
    public void BPipeBalancesToCeilingOfHalfPPlusOne()
    {
        foreach (int p in new[] { 2, 3, 4, 5, 6, 8, 12, 16 })
            for (int i = 0; i < p; i++)
                Assert.Equal((p + 2) / 2, MemoryModel.InFlightMicroBatches(Setup(p, 4 * p, bpipe: true), i)); // ceil((p+1)/2)
    }

    [Fact]
    public void BPipeNeverHoldsMoreThanThePairBetweenThem()
    {
        foreach (int p in new[] { 4, 8 })
        foreach (int m in new[] { 1, 2, 3, 5 })
            for (int i = 0; i < p; i++)
            {
                double plain = Math.Min(m, p - i), partner = Math.Min(m, i + 1);
                double balanced = MemoryModel.InFlightMicroBatches(Setup(p, m, bpipe: true), i);
                Assert.Equal(Math.Ceiling((plain + partner) / 2), balanced);
            }
    }

    [Fact]
    public void InterleavingMultipliesByOnePlusPMinusOneOverPV()
    {
        var setup = Setup(4, 16, schedule: PipelineSchedule.Interleaved, v: 3);
        Assert.Equal(4 * (1 + 3.0 / 12), MemoryModel.InFlightMicroBatches(setup, 0), 12);
    }

    [Fact]
    public void ModelStatesUse18BytesPerParameterOr6Plus12OverD()
    {
        foreach (int d in new[] { 1, 2, 4 })
        {
            var plain = Setup(4, 8, d: d) with { DistributedOptimizer = false };
            var distributed = plain with { DistributedOptimizer = true };
            var a = MemoryModel.Stage(Gpt, plain, 1);
            var b = MemoryModel.Stage(Gpt, distributed, 1);
            Assert.Equal(18 * a.Parameters, a.ModelStates, 6);
            Assert.Equal((6 + 12.0 / d) * b.Parameters, b.ModelStates, 6);
            // A middle stage holds L/p blocks split t ways.
            Assert.Equal(48.0 / 4 * Gpt.LayerParameters / 2, a.Parameters, 6);
        }
    }

    [Fact]
    public void FirstStageHoldsEmbeddingAndItsActivations()
    {
        var setup = Setup(4, 8);
        var first = MemoryModel.Stage(Gpt, setup, 0, reservedBytes: 0);
        var second = MemoryModel.Stage(Gpt, setup, 1, reservedBytes: 0);
        Assert.Equal(Gpt.EmbeddingParameters / 2.0, first.Parameters - second.Parameters, 3);
        double perLayer = ActivationMemory.PerLayerBytes(Gpt, 1024, 1, setup.Activation);
        double embedding = 1024.0 * 4096 / 2; // dropout mask, split by SP
        Assert.Equal(4 * (12 * perLayer + embedding), first.Activations, 3);
        Assert.Equal(3 * 12 * perLayer, second.Activations, 3);
    }

    [Fact]
    public void GptThreeParameterCountIsAbout175Billion()
    {
        Assert.True(ModelPresets.TryGet("gpt3-175b", out var model));
        Assert.InRange(model.TotalParameters / 1e9, 174, 176);
        Assert.True(ModelPresets.TryGet("llama-65b", out var llama));
        Assert.InRange(llama.TotalParameters / 1e9, 65, 65.6);
        Assert.True(ModelPresets.TryGet("Llama-2-70B", out var llama2));
        Assert.InRange(llama2.TotalParameters / 1e9, 68.5, 69.5);
    }
}
