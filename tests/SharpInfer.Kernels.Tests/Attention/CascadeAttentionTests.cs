using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Attention;

public unsafe class CascadeAttentionTests
{
    [Theory]
    [InlineData(16, KvLayout.Hnd)]
    [InlineData(1, KvLayout.Nhd)]
    public void CascadeEqualsPlainAttentionOverPrefixPlusOwnPages(int pageSize, KvLayout layout)
    {
        const int hq = 8, hkv = 2, d = 64, prefix = 3 * 16; // the prefix fills whole pages, as a shared prefix does
        int[] own = [5, 20, 1, 33], qo = [1, 4, 1, 7];
        var rng = new Random(pageSize);
        int ownPages = own.Sum(n => (n + pageSize - 1) / pageSize), prefixPages = prefix / pageSize;
        using var cache = new PagedKvCache(1, prefixPages + ownPages, pageSize, hkv, d, layout);
        var prefixTable = PageTable.ForSingle(Enumerable.Range(ownPages, prefixPages).ToArray(), prefix, pageSize);
        var ownTable = BatchAttentionTests.TableOf(own, pageSize);
        // The plain table: every request's pages are the prefix pages followed by its own.
        var indptr = new int[own.Length + 1];
        var indices = new List<int>();
        var last = new int[own.Length];
        for (int b = 0; b < own.Length; b++)
        {
            indices.AddRange(prefixTable.Indices);
            indices.AddRange(ownTable.Indices[ownTable.Indptr[b]..ownTable.Indptr[b + 1]]);
            indptr[b + 1] = indices.Count;
            last[b] = ownTable.LastPageLength[b];
        }
        var plainTable = new PageTable(indptr, [.. indices], last, pageSize);
        for (int p = 0; p < cache.Pages; p++)
            for (int e = 0; e < pageSize; e++)
                cache.Write(0, p, e, AttentionFixture.Random(rng, hkv * d, 1), AttentionFixture.Random(rng, hkv * d, 1));
        var qoIndptr = new int[own.Length + 1];
        for (int b = 0; b < own.Length; b++) qoIndptr[b + 1] = qoIndptr[b] + qo[b];
        var q = AttentionFixture.Random(rng, qoIndptr[^1] * hq * d, 2);

        using var pool = new WorkerPool(2);
        var plain = new BatchAttention(pool);
        plain.Plan(qoIndptr, plainTable, hq, hkv, d);
        var cascade = new CascadeAttention(pool);
        cascade.Plan(qoIndptr, prefixTable, ownTable, hq, hkv, d, new AttentionPlanOptions { MaxKvChunk = 20 });
        float[] expected = new float[q.Length], actual = new float[q.Length], expectedLse = new float[qoIndptr[^1] * hq], actualLse = new float[expectedLse.Length];
        fixed (float* qp = q) fixed (float* ep = expected) fixed (float* ap = actual) fixed (float* el = expectedLse) fixed (float* al = actualLse)
        {
            plain.Run(cache.View(0), qp, ep, el, new CausalMask(0.125f));
            cascade.Run(cache.View(0), qp, ap, al, 0.125f);
        }
        float maxRef = expected.Max(MathF.Abs);
        for (int i = 0; i < q.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * maxRef, $"output {i}: {actual[i]} vs {expected[i]}");
        for (int i = 0; i < expectedLse.Length; i++) Assert.True(Math.Abs(expectedLse[i] - actualLse[i]) <= 1e-5 * Math.Max(1, Math.Abs(expectedLse[i])), $"lse {i}: {actualLse[i]} vs {expectedLse[i]}");
    }

    [Fact]
    public void CascadeRejectsQueriesReachingIntoThePrefix()
    {
        using var pool = new WorkerPool(1);
        var cascade = new CascadeAttention(pool);
        Assert.Throws<ArgumentException>(() => cascade.Plan([0, 3], PageTable.ForSingle([0], 16, 16), PageTable.ForSingle([1], 2, 16), 2, 1, 64));
    }
}
