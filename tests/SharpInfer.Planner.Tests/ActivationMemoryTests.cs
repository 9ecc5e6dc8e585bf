using SharpInfer.Planner;

namespace SharpInfer.Planner.Tests;

/// <summary>Per-block activation bytes against the note's closed forms, computed independently in decimal.</summary>
public class ActivationMemoryTests
{
    private static readonly int[] TensorSizes = [1, 2, 4, 8];

    /// <summary>Random GPT shapes (GeLU, f = 4h, no GQA) where t divides heads and hidden, as Megatron requires.</summary>
    private static IEnumerable<(ModelSpec Model, int S, int B, int T)> RandomGptShapes(int seed, int count)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int t = TensorSizes[random.Next(TensorSizes.Length)];
            int heads = t * random.Next(1, 17);
            int headDim = 8 * random.Next(1, 33);
            int s = random.Next(1, 8193);
            int b = random.Next(1, 33);
            yield return (ModelSpec.Gpt("random", random.Next(1, 97), heads * headDim, heads), s, b, t);
        }
    }

    private static void AssertExact(decimal expected, double actual, string what)
    {
        decimal difference = Math.Abs((decimal)actual - expected);
        Assert.True(difference <= 1e-6m * Math.Max(1m, expected / 1e12m), $"{what}: expected {expected}, got {actual}");
    }

    private static ActivationOptions Options(int t, bool sp, bool flash, Recompute r) => new(t, sp, flash, r);

    [Fact]
    public void NoParallelismMatchesClosedForm()
    {
        foreach (var (model, s, b, _) in RandomGptShapes(1, 300))
        {
            decimal sbh = (decimal)s * b * model.Hidden;
            decimal expected = sbh * (34m + 5m * model.Heads * s / model.Hidden);
            AssertExact(expected, ActivationMemory.PerLayerBytes(model, s, b, Options(1, false, false, Recompute.None)), "no parallelism");
        }
    }

    [Fact]
    public void TensorParallelMatchesClosedForm()
    {
        foreach (var (model, s, b, t) in RandomGptShapes(2, 300))
        {
            decimal sbh = (decimal)s * b * model.Hidden;
            decimal expected = sbh * (10m + 24m / t + 5m * model.Heads * s / ((decimal)model.Hidden * t));
            AssertExact(expected, ActivationMemory.PerLayerBytes(model, s, b, Options(t, false, false, Recompute.None)), $"TP t={t}");
        }
    }

    [Fact]
    public void TensorAndSequenceParallelMatchesClosedForm()
    {
        foreach (var (model, s, b, t) in RandomGptShapes(3, 300))
        {
            decimal sbh = (decimal)s * b * model.Hidden;
            decimal expected = sbh / t * (34m + 5m * model.Heads * s / model.Hidden);
            AssertExact(expected, ActivationMemory.PerLayerBytes(model, s, b, Options(t, true, false, Recompute.None)), $"TP+SP t={t}");
        }
    }

    [Fact]
    public void SelectiveRecomputeAndFlashAttentionMatchClosedForms()
    {
        foreach (var (model, s, b, t) in RandomGptShapes(4, 300))
        {
            decimal sbh = (decimal)s * b * model.Hidden;
            decimal withSp = 34m * sbh / t;
            decimal withoutSp = sbh * (10m + 24m / t);
            AssertExact(withSp, ActivationMemory.PerLayerBytes(model, s, b, Options(t, true, false, Recompute.Selective)), "selective TP+SP");
            AssertExact(withoutSp, ActivationMemory.PerLayerBytes(model, s, b, Options(t, false, false, Recompute.Selective)), "selective TP");
            AssertExact(withSp, ActivationMemory.PerLayerBytes(model, s, b, Options(t, true, true, Recompute.None)), "flash TP+SP");
            AssertExact(withoutSp, ActivationMemory.PerLayerBytes(model, s, b, Options(t, false, true, Recompute.None)), "flash TP");
        }
    }

    [Fact]
    public void FullRecomputeKeepsOnlyTheBlockInput()
    {
        foreach (var (model, s, b, t) in RandomGptShapes(5, 200))
        {
            decimal expected = 2m * s * b * model.Hidden;
            foreach (bool sp in new[] { false, true })
            foreach (bool flash in new[] { false, true })
                AssertExact(expected, ActivationMemory.PerLayerBytes(model, s, b, Options(t, sp, flash, Recompute.Full)), "full recompute");
        }
    }

    [Fact]
    public void Gpt3_175B_WithSequenceParallelAndSelectiveRecomputeIs34sbhOverT()
    {
        Assert.True(ModelPresets.TryGet("gpt3-175b", out var model));
        Assert.Equal((12288, 96, 96), (model.Hidden, model.Heads, model.Layers));
        for (int b = 1; b <= 8; b++)
        {
            double expected = 34.0 * 2048 * b * 12288 / 8;
            Assert.Equal(expected, ActivationMemory.PerLayerBytes(model, 2048, b, new ActivationOptions(8, true, false, Recompute.Selective)));
        }
    }

    [Fact]
    public void BreakdownMatchesMegatronTerms()
    {
        // Attention 11sbh + 5as^2b, MLP 19sbh, norms 4sbh (no parallelism).
        var model = ModelSpec.Gpt("small", 2, 256, 4);
        int s = 128, b = 3;
        double sbh = (double)s * b * 256;
        var parts = ActivationMemory.PerLayer(model, s, b, new ActivationOptions(1, false, false, Recompute.None));
        Assert.Equal(11 * sbh, parts.Attention);
        Assert.Equal(5.0 * 4 * s * s * b, parts.AttentionScores);
        Assert.Equal(19 * sbh, parts.Mlp);
        Assert.Equal(4 * sbh, parts.Norms);
    }

    [Fact]
    public void SwiGluAndGqaFollowTheDocumentedDerivation()
    {
        var random = new Random(6);
        for (int i = 0; i < 300; i++)
        {
            int t = TensorSizes[random.Next(TensorSizes.Length)];
            int kvHeads = t * random.Next(1, 5);
            int heads = kvHeads * random.Next(1, 5);
            int headDim = 8 * random.Next(1, 17);
            int hidden = heads * headDim;
            int ffn = t * random.Next(1, 2000);
            int s = random.Next(1, 4097), b = random.Next(1, 17);
            var model = new ModelSpec("swiglu", 4, hidden, heads, kvHeads, ffn, 1000, 4096, MlpKind.SwiGlu, false);
            decimal sb = (decimal)s * b, h = hidden, hk = (decimal)kvHeads * headDim, f = ffn;
            // Replicated: QKV input 2h, attention mask h, MLP input 2h, MLP mask h, norms 4h = 10h.
            // Split t ways: Q 2h, K 2hk, V 2hk, projection input 2h; SwiGLU gate, silu, up, product 8f; scores 5as^2b.
            decimal tp = sb * 10m * h + sb * (4m * h + 4m * hk) / t + sb * 8m * f / t + 5m * heads * s * sb / t;
            AssertExact(tp, ActivationMemory.PerLayerBytes(model, s, b, new ActivationOptions(t, false, false, Recompute.None)), "SwiGLU TP");
            decimal tpSp = (sb * 10m * h + sb * (4m * h + 4m * hk) + sb * 8m * f + 5m * heads * s * sb) / t;
            AssertExact(tpSp, ActivationMemory.PerLayerBytes(model, s, b, new ActivationOptions(t, true, false, Recompute.None)), "SwiGLU TP+SP");
            AssertExact(tpSp - 5m * heads * s * sb / t, ActivationMemory.PerLayerBytes(model, s, b, new ActivationOptions(t, true, true, Recompute.None)), "SwiGLU flash");
        }
    }

    [Fact]
    public void SwiGluAtGeluWidthEqualsNineteenPlusFourF()
    {
        // With f = 4h a GeLU MLP stores 19sbh; SwiGLU stores 3sbh + 8sbf = 35sbh.
        var gelu = ModelSpec.Gpt("g", 1, 512, 8);
        var swiglu = gelu with { Mlp = MlpKind.SwiGlu };
        var options = new ActivationOptions(1, false, true, Recompute.None);
        double sbh = 64.0 * 2 * 512;
        Assert.Equal(19 * sbh, ActivationMemory.PerLayer(gelu, 64, 2, options).Mlp);
        Assert.Equal(35 * sbh, ActivationMemory.PerLayer(swiglu, 64, 2, options).Mlp);
    }
}
