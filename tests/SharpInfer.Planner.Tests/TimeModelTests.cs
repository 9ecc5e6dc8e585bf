using SharpInfer.Planner;

namespace SharpInfer.Planner.Tests;

public class TimeModelTests
{
    private static readonly ModelSpec Gpt = ModelSpec.Gpt("gpt", 48, 4096, 32);
    private static readonly ClusterSpec Cluster = new(GpuPresets.Get("a100-80gb"), 64);

    [Fact]
    public void BubbleIsPMinusOneOverMPlusPMinusOne()
    {
        foreach (int p in new[] { 2, 4, 8, 16 })
        foreach (int m in new[] { 1, 4, 32, 256 })
        {
            int d = 64 / (8 * p) is >= 1 and var dd ? dd : 1;
            if (8 * p * d != 64) continue;
            var setup = new TrainingSetup(8, p, d, 1, m * d, 2048);
            var time = TimeModel.Estimate(Gpt, Cluster, setup);
            Assert.Equal((p - 1.0) / (m + p - 1.0), time.BubbleFraction, 12);
            Assert.Equal((m + p - 1) * time.ComputePerMicroBatch, time.PipelineCompute, 9);
        }
    }

    [Fact]
    public void InterleavingDividesTheBubbleTermByV()
    {
        var setup = new TrainingSetup(8, 4, 2, 1, 64, 2048, PipelineSchedule.Interleaved, 3);
        var time = TimeModel.Estimate(Gpt, Cluster, setup);
        double slots = 32 + 3.0 / 3;
        Assert.Equal(1.0 / slots, time.BubbleFraction, 12);
    }

    [Fact]
    public void ComputeIsExecutedFlopsOverMfuTimesPeak()
    {
        var setup = new TrainingSetup(8, 4, 2, 2, 64, 2048, Recompute: Recompute.Full, FlashAttention: false);
        var time = TimeModel.Estimate(Gpt, Cluster, setup);
        double h = 4096, s = 2048, b = 2, layers = 12, v = 51200;
        double layerForward = 24 * b * s * h * h * (1 + s / (6 * h));           // Megatron's closed form
        double executed = (layers * 4 * layerForward + 3 * 2 * b * s * h * v) / 8; // full recompute: 4 passes; logits 3
        double mfu = Cluster.Gpu.Mfu.At(2, 2048);
        Assert.Equal(executed / (mfu * 312e12), time.ComputePerMicroBatch, 9);
    }

    [Fact]
    public void DataParallelAllReduceIsARingOverFp32Gradients()
    {
        var setup = new TrainingSetup(8, 2, 4, 1, 64, 2048);
        var time = TimeModel.Estimate(Gpt, Cluster, setup);
        double gradientBytes = 4 * MemoryModel.StageParameters(Gpt, setup, 1);
        Assert.Equal(2 * 3.0 / 4 * gradientBytes / 25e9, time.DataParallelAllReduce, 9); // t*d spans nodes: NIC bandwidth
    }

    [Fact]
    public void TokensPerSecondIsGlobalTokensOverStep()
    {
        var setup = new TrainingSetup(8, 4, 2, 1, 128, 2048);
        var time = TimeModel.Estimate(Gpt, Cluster, setup);
        Assert.Equal(128.0 * 2048 / time.Total, time.TokensPerSecond, 6);
        Assert.InRange(time.ModelFlopsUtilization, 0.05, time.Mfu);
    }

    [Fact]
    public void MfuTableInterpolatesInLogMicroBatchAndClamps()
    {
        var curve = MfuCurve.Parse("1:0.40,4:0.50,16:0.52");
        Assert.Equal(0.40, curve.At(1, 2048));
        Assert.Equal(0.45, curve.At(2, 2048), 12);
        Assert.Equal(0.50, curve.At(4, 2048));
        Assert.Equal(0.51, curve.At(8, 2048), 12);
        Assert.Equal(0.52, curve.At(64, 2048));
        Assert.Equal(0.40, curve.At(1, 99));
        Assert.Throws<PlannerInputException>(() => MfuCurve.Parse("1:1.5"));
        Assert.Throws<PlannerInputException>(() => MfuCurve.Parse("x"));
    }

    [Fact]
    public void DefaultMfuGrowsAndSaturates()
    {
        var curve = MfuCurve.DefaultA100;
        double previous = 0;
        foreach (int b in new[] { 1, 2, 4, 8, 16, 32 })
        {
            double mfu = curve.At(b, 2048);
            Assert.True(mfu > previous && mfu < 0.55);
            previous = mfu;
        }
        Assert.True(curve.At(2, 2048) / curve.At(1, 2048) > 1.15); // small micro-batches gain a lot
        Assert.True(curve.At(16, 2048) / curve.At(8, 2048) < 1.05); // large ones little
    }
}
