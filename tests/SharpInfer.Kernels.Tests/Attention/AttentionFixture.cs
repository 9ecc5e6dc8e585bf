using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Attention;

/// <summary>
/// A random batch in a paged KV cache (pages handed out shuffled, so logical and physical order differ), its queries,
/// and the float64 single-request reference on the de-paged K/V that every batch kernel is checked against.
/// </summary>
internal sealed unsafe class AttentionFixture : IDisposable
{
    public readonly int[] QoLens, KvLens, QoIndptr;
    public readonly int Hq, Hkv, D, PageSize;
    public readonly PagedKvCache Cache;
    public readonly PageTable Table;
    public readonly (float[] K, float[] V)[] Kv; // per request [kvLen, Hkv, D]
    public readonly float[] Q;                   // [nnz, Hq, D]
    public int Tokens => QoIndptr[^1];

    public AttentionFixture(int seed, int[] qoLens, int[] kvLens, int hq, int hkv, int d, int pageSize, KvLayout layout = KvLayout.Hnd, float spread = 1f)
    {
        var rng = new Random(seed);
        QoLens = qoLens; KvLens = kvLens; Hq = hq; Hkv = hkv; D = d; PageSize = pageSize;
        int batch = kvLens.Length;
        int totalPages = kvLens.Sum(n => (n + pageSize - 1) / pageSize) + 3;
        Cache = new PagedKvCache(1, totalPages, pageSize, hkv, d, layout);
        var free = new Queue<int>(Enumerable.Range(0, totalPages).OrderBy(_ => rng.Next()));
        var indptr = new int[batch + 1];
        var indices = new List<int>();
        var last = new int[batch];
        Kv = new (float[], float[])[batch];
        for (int b = 0; b < batch; b++)
        {
            int pages = (kvLens[b] + pageSize - 1) / pageSize;
            for (int p = 0; p < pages; p++) indices.Add(free.Dequeue());
            indptr[b + 1] = indices.Count;
            last[b] = pages == 0 ? 0 : kvLens[b] - (pages - 1) * pageSize;
            Kv[b] = (Random(rng, kvLens[b] * hkv * d, spread), Random(rng, kvLens[b] * hkv * d, 1f));
        }
        Table = new PageTable(indptr, [.. indices], last, pageSize);
        for (int b = 0; b < batch; b++)
            for (int pos = 0; pos < kvLens[b]; pos++)
            {
                var (page, entry) = Table.Slot(b, pos);
                Cache.Write(0, page, entry, Kv[b].K.AsSpan(pos * hkv * d, hkv * d), Kv[b].V.AsSpan(pos * hkv * d, hkv * d));
            }
        QoIndptr = new int[batch + 1];
        for (int b = 0; b < batch; b++) QoIndptr[b + 1] = QoIndptr[b] + qoLens[b];
        Q = Random(rng, QoIndptr[^1] * hq * d, spread);
    }

    public static float[] Random(Random rng, int n, float spread) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * spread).ToArray();

    /// <summary>Plans and runs batch attention; returns output [nnz, Hq, D] and LSE [nnz, Hq].</summary>
    public (float[] O, float[] Lse) Run<TVariant>(in TVariant variant, int threads = 2, AttentionPlanOptions? options = null) where TVariant : struct, IAttentionVariant
    {
        using var pool = new WorkerPool(threads);
        var attention = new BatchAttention(pool);
        attention.Plan(QoIndptr, Table, Hq, Hkv, D, options);
        var o = new float[Q.Length];
        var lse = new float[Tokens * Hq];
        fixed (float* qp = Q) fixed (float* op = o) fixed (float* lp = lse) attention.Run(Cache.View(0), qp, op, lp, variant);
        return (o, lse);
    }

    /// <summary>The variant's math, written out directly for the float64 reference.</summary>
    public sealed record ReferenceVariant(
        double SmScale,
        Func<int, int, int, int, int, bool> Visible,              // (request, queryIndex, kvIndex, qoLen, kvLen)
        Func<double, int, int, int, double>? Transform = null);    // (q.k * smScale, head, queryPosition, kvIndex)

    public static ReferenceVariant CausalReference(double scale) => new(scale, (_, i, j, qo, kv) => j + qo <= kv + i);

    /// <summary>float64 attention of request b on de-paged K/V: output [qoLen, Hq, D] and base-2 LSE [qoLen, Hq].</summary>
    public (double[] O, double[] Lse) Reference(int b, ReferenceVariant variant)
    {
        int qoLen = QoLens[b], kvLen = KvLens[b], group = Hq / Hkv, d = D;
        var (k, v) = Kv[b];
        var o = new double[qoLen * Hq * d];
        var lse = new double[qoLen * Hq];
        for (int i = 0; i < qoLen; i++)
            for (int h = 0; h < Hq; h++)
            {
                int kvh = h / group, position = kvLen - qoLen + i;
                var logits = new List<(int J, double S)>();
                for (int j = 0; j < kvLen; j++)
                {
                    if (!variant.Visible(b, i, j, qoLen, kvLen)) continue;
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += (double)Q[((QoIndptr[b] + i) * Hq + h) * d + e] * k[(j * Hkv + kvh) * d + e];
                    double x = dot * variant.SmScale;
                    logits.Add((j, variant.Transform?.Invoke(x, h, position, j) ?? x));
                }
                if (logits.Count == 0) { lse[i * Hq + h] = double.NegativeInfinity; continue; }
                double max = logits.Max(t => t.S), sum = logits.Sum(t => Math.Exp(t.S - max));
                lse[i * Hq + h] = (max + Math.Log(sum)) / Math.Log(2);
                foreach (var (j, s) in logits)
                    for (int e = 0; e < d; e++) o[(i * Hq + h) * d + e] += Math.Exp(s - max) / sum * v[(j * Hkv + kvh) * d + e];
            }
        return (o, lse);
    }

    /// <summary>Checks every request against the reference: max|out-ref| &lt;= 1e-4 max|ref|, LSE within 1e-4 (absolute, base 2).</summary>
    public void AssertMatchesReference(float[] output, float[] lse, ReferenceVariant variant)
    {
        Assert.DoesNotContain(output, float.IsNaN);
        Assert.DoesNotContain(lse, float.IsNaN);
        for (int b = 0; b < KvLens.Length; b++)
        {
            var (expected, expectedLse) = Reference(b, variant);
            double maxRef = expected.Length == 0 ? 0 : expected.Max(Math.Abs), maxErr = 0;
            int offset = QoIndptr[b] * Hq * D;
            for (int i = 0; i < expected.Length; i++) maxErr = Math.Max(maxErr, Math.Abs(expected[i] - output[offset + i]));
            Assert.True(maxErr <= 1e-4 * Math.Max(maxRef, 1e-30), $"request {b}: max error {maxErr} vs max |ref| {maxRef}");
            for (int r = 0; r < expectedLse.Length; r++)
            {
                double want = expectedLse[r], got = lse[QoIndptr[b] * Hq + r];
                if (double.IsNegativeInfinity(want)) Assert.True(float.IsNegativeInfinity((float)got), $"request {b} row {r}: lse {got}, expected -inf");
                else Assert.True(Math.Abs(want - got) <= 1e-4 * Math.Max(1, Math.Abs(want)), $"request {b} row {r}: lse {got}, expected {want}");
            }
        }
    }

    public void Dispose() => Cache.Dispose();
}
