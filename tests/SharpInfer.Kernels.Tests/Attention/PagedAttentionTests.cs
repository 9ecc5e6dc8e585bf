using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Attention;

public unsafe class PagedAttentionTests
{
    /// <summary>
    /// float64 causal attention of one request on de-paged K/V: q [qoLen, Hq, D], k/v [kvLen, Hkv, D].
    /// </summary>
    private static double[] Reference(float[] q, float[] k, float[] v, int qoLen, int kvLen, int hq, int hkv, int d)
    {
        var o = new double[qoLen * hq * d];
        int group = hq / hkv;
        for (int i = 0; i < qoLen; i++)
            for (int h = 0; h < hq; h++)
            {
                int visible = kvLen - qoLen + i + 1, kvh = h / group;
                var s = new double[visible];
                for (int j = 0; j < visible; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += (double)q[(i * hq + h) * d + e] * k[(j * hkv + kvh) * d + e];
                    s[j] = dot / Math.Sqrt(d);
                }
                double max = s.Max(), sum = s.Sum(x => Math.Exp(x - max));
                for (int j = 0; j < visible; j++)
                    for (int e = 0; e < d; e++) o[(i * hq + h) * d + e] += Math.Exp(s[j] - max) / sum * v[(j * hkv + kvh) * d + e];
            }
        return o;
    }

    [Theory]
    [InlineData(1, 8, 2, 64)]
    [InlineData(16, 8, 8, 32)]
    [InlineData(16, 32, 8, 128)]
    [InlineData(64, 4, 1, 64)]
    [InlineData(16, 8, 4, 8)]  // stories260K: head dim 8
    [InlineData(4, 6, 2, 40)]  // a head dim that is not a multiple of 16
    public void BatchAttentionEqualsPerRequestReferenceOnDepagedKv(int pageSize, int hq, int hkv, int d)
    {
        var rng = new Random(pageSize * 1000 + hq);
        int[] kvLens = [1, 37, 100, 16];
        int[] qoLens = [1, 5, 1, 16];
        int batch = kvLens.Length;
        const int totalPages = 200;
        using var cache = new PagedKvCache(1, totalPages, pageSize, hkv, d);
        // Pages are handed out shuffled so that logical and physical order differ.
        var free = Enumerable.Range(0, totalPages).OrderBy(_ => rng.Next()).ToQueue();
        var indptr = new int[batch + 1];
        var indices = new List<int>();
        var last = new int[batch];
        var kv = new (float[] K, float[] V)[batch];
        for (int b = 0; b < batch; b++)
        {
            int pages = (kvLens[b] + pageSize - 1) / pageSize;
            for (int p = 0; p < pages; p++) indices.Add(free.Dequeue());
            indptr[b + 1] = indices.Count;
            last[b] = kvLens[b] - (pages - 1) * pageSize;
            kv[b] = (Random(rng, kvLens[b] * hkv * d), Random(rng, kvLens[b] * hkv * d));
        }
        var table = new PageTable(indptr, [.. indices], last, pageSize);
        for (int b = 0; b < batch; b++)
            for (int pos = 0; pos < kvLens[b]; pos++)
            {
                var (page, entry) = table.Slot(b, pos);
                cache.Write(0, page, entry, kv[b].K.AsSpan(pos * hkv * d, hkv * d), kv[b].V.AsSpan(pos * hkv * d, hkv * d));
            }
        var qoIndptr = new int[batch + 1];
        for (int b = 0; b < batch; b++) qoIndptr[b + 1] = qoIndptr[b] + qoLens[b];
        var q = Random(rng, qoIndptr[^1] * hq * d);

        float[] Run(int threads)
        {
            using var pool = new WorkerPool(threads);
            var attention = new PagedAttention(pool);
            attention.Plan(qoIndptr, table, hq);
            var o = new float[q.Length];
            fixed (float* qp = q) fixed (float* op = o) attention.Run(cache, 0, qp, op, 1f / MathF.Sqrt(d));
            return o;
        }
        var output = Run(2);
        Assert.Equal(output, Run(1)); // the same bits whatever the thread count
        Assert.Equal(output, Run(2)); // and from run to run
        for (int b = 0; b < batch; b++)
        {
            var expected = Reference(q.AsSpan(qoIndptr[b] * hq * d, qoLens[b] * hq * d).ToArray(), kv[b].K, kv[b].V, qoLens[b], kvLens[b], hq, hkv, d);
            double maxRef = expected.Max(Math.Abs), maxErr = 0;
            for (int i = 0; i < expected.Length; i++) maxErr = Math.Max(maxErr, Math.Abs(expected[i] - output[qoIndptr[b] * hq * d + i]));
            Assert.True(maxErr <= 1e-4 * maxRef, $"request {b}: max error {maxErr} vs max |ref| {maxRef}");
        }
    }

    private static float[] Random(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
}

internal static class QueueExtensions
{
    public static Queue<T> ToQueue<T>(this IEnumerable<T> items) => new(items);
}
