using SharpInfer.Kernels.Attention;

namespace SharpInfer.Kernels.Tests.Attention;

public class AttentionVariantTests
{
    private static readonly int[] Qo = [1, 6, 3, 16], Kv = [9, 37, 100, 16];
    private const float Scale = 0.125f;

    private static AttentionFixture Fixture(KvLayout layout) => new(17 + (int)layout, Qo, Kv, hq: 8, hkv: 2, d: 64, pageSize: 16, layout, spread: 2f);

    [Theory] [InlineData(KvLayout.Hnd)] [InlineData(KvLayout.Nhd)]
    public void NoMaskSeesEveryKey(KvLayout layout)
    {
        using var f = Fixture(layout);
        var (o, lse) = f.Run(new NoMask(Scale), options: new AttentionPlanOptions { MaxKvChunk = 24 });
        f.AssertMatchesReference(o, lse, new AttentionFixture.ReferenceVariant(Scale, (_, _, _, _, _) => true));
    }

    [Theory] [InlineData(KvLayout.Hnd, 0)] [InlineData(KvLayout.Nhd, 5)] [InlineData(KvLayout.Hnd, 40)]
    public void SlidingWindowKeepsTheLastWindowLeftKeysBeforeEachQuery(KvLayout layout, int window)
    {
        using var f = Fixture(layout);
        var (o, lse) = f.Run(new SlidingWindow(Scale, window), options: new AttentionPlanOptions { MaxKvChunk = 24 });
        f.AssertMatchesReference(o, lse, new AttentionFixture.ReferenceVariant(Scale, (_, i, j, qo, kv) => j + qo <= kv + i && j + qo + window >= kv + i));
    }

    [Theory] [InlineData(KvLayout.Hnd, true)] [InlineData(KvLayout.Nhd, false)]
    public void LogitsSoftCapSquashesLogits(KvLayout layout, bool causal)
    {
        using var f = Fixture(layout);
        const float cap = 1.5f; // small enough that tanh bends the logits of this spread
        var (o, lse) = f.Run(new LogitsSoftCap(Scale, cap, causal), options: new AttentionPlanOptions { MaxKvChunk = 24 });
        f.AssertMatchesReference(o, lse, new AttentionFixture.ReferenceVariant(Scale,
            (_, i, j, qo, kv) => !causal || j + qo <= kv + i, (x, _, _, _) => cap * Math.Tanh(x / cap)));
    }

    [Theory] [InlineData(KvLayout.Hnd, true)] [InlineData(KvLayout.Nhd, false)]
    public void AlibiAddsAPerHeadDistanceBias(KvLayout layout, bool causal)
    {
        using var f = Fixture(layout);
        var slopes = Alibi.StandardSlopes(8);
        var (o, lse) = f.Run(new Alibi(Scale, slopes, causal), options: new AttentionPlanOptions { MaxKvChunk = 24 });
        f.AssertMatchesReference(o, lse, new AttentionFixture.ReferenceVariant(Scale,
            (_, i, j, qo, kv) => !causal || j + qo <= kv + i, (x, h, position, j) => x + slopes[h] * (j - position)));
    }

    [Theory] [InlineData(KvLayout.Hnd)] [InlineData(KvLayout.Nhd)]
    public void CustomMaskFollowsItsPackedBits(KvLayout layout)
    {
        using var f = Fixture(layout);
        var rng = new Random(4);
        var masks = Qo.Select((qo, b) => Enumerable.Range(0, qo * Kv[b]).Select(_ => rng.Next(3) != 0).ToArray()).ToArray();
        Array.Fill(masks[2], false, 0, Kv[2]); // request 2's first query sees nothing
        var (bits, indptr) = CustomMask.Pack(masks);
        var (o, lse) = f.Run(new CustomMask(Scale, bits, indptr), options: new AttentionPlanOptions { MaxKvChunk = 24 });
        f.AssertMatchesReference(o, lse, new AttentionFixture.ReferenceVariant(Scale, (b, i, j, _, kv) => masks[b][i * kv + j]));
        Assert.True(float.IsNegativeInfinity(lse[(1 + 6) * 8]), "the all-false mask row should be empty");
    }

    [Fact]
    public void PackedMaskUsesLittleBitOrderAndByteAlignedRequests()
    {
        var (bits, indptr) = CustomMask.Pack([[true, false, false, false, false, false, false, false, false, true], [false, true]]);
        Assert.Equal([0, 2, 3], indptr);
        Assert.Equal(new byte[] { 0b1, 0b10, 0b10 }, bits);
    }
}
