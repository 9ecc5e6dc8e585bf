using System.Runtime.InteropServices;
using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Definitions;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Dispatch;
using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Reference;
using SharpInfer.Kernels.Sampling;
using SharpInfer.Kernels.Tests.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Dispatch;

/// <summary>Every registered solution that runs here agrees with its float64 reference: max |out - ref| &lt;= tol * max |ref|.</summary>
public unsafe class SolutionAccuracyTests
{
    private static readonly KernelRegistry Registry = KernelRegistry.Default;

    private static IEnumerable<KernelSolution> Runnable(OpKind op) => Registry.Solutions(op).Where(s => s.IsAvailable);

    private static void AssertClose(ReadOnlySpan<double> reference, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            maxRef = Math.Max(maxRef, Math.Abs(reference[i]));
            maxErr = Math.Max(maxErr, Math.Abs(actual[i] - reference[i]));
        }
        Assert.True(maxErr <= tolerance * maxRef, $"{what}: max error {maxErr:E3} > {tolerance:E0} x {maxRef:E3}");
    }

    [Fact]
    public void NormsAndSiluMatchFloat64OverLengthsHittingEveryTail()
    {
        for (int n = 1; n <= 300; n++)
        {
            int rows = n % 3 + 1;
            var x = QuantizationTests.RandomValues(rows * n, n, 4f);
            var r0 = QuantizationTests.RandomValues(rows * n, n + 1, 2f);
            var w = QuantizationTests.RandomValues(n, n + 2);
            var y = new float[rows * n];
            var expected = ReferenceKernels.RmsNorm(x, w, 1e-5);
            foreach (var s in Runnable(OpKind.RmsNorm))
            {
                Array.Clear(y);
                s.Get<RmsNormKernel>()(x, w, 1e-5f, y);
                AssertClose(expected, y, 1e-4, $"{s.Name} n={n}");
            }
            var fused = ReferenceKernels.FusedAddRmsNorm(x, r0, w, 1e-5, out var newResidual);
            foreach (var s in Runnable(OpKind.FusedAddRmsNorm))
            {
                var residual = (float[])r0.Clone();
                s.Get<FusedAddRmsNormKernel>()(x, residual, w, 1e-5f, y);
                AssertClose(fused, y, 1e-4, $"{s.Name} n={n}");
                AssertClose(newResidual, residual, 1e-6, $"{s.Name} residual n={n}");
            }
            var silu = ReferenceKernels.SiluAndMul(x, r0);
            foreach (var s in Runnable(OpKind.SiluAndMul))
            {
                s.Get<SiluAndMulKernel>()(x, r0, y);
                AssertClose(silu, y, 1e-4, $"{s.Name} n={n}");
            }
        }
    }

    [Fact]
    public void RopeMatchesFloat64ForBothStylesAndEveryEvenHeadDim()
    {
        var random = new Random(3);
        foreach (var style in new[] { RopeStyle.Interleaved, RopeStyle.NeoX })
            for (int d = 2; d <= 160; d += 2)
            {
                int heads = 3, tokens = 2, maxSeq = 8;
                var rope = new Rope(d, 10000, style);
                var cache = new float[maxSeq * d];
                for (int p = 0; p < maxSeq; p++) rope.Angles(p, cache.AsSpan(p * d, d / 2), cache.AsSpan(p * d + d / 2, d / 2));
                int[] positions = [random.Next(maxSeq), random.Next(maxSeq)];
                var x = QuantizationTests.RandomValues(tokens * heads * d, d);
                var expected = ReferenceKernels.Rope(x, heads, d, cache, positions, style);
                var shape = KernelShape.Rope(style, d);
                var solutions = Registry.Runnable(shape);
                Assert.Equal(3, Registry.Candidates(shape).Count);
                foreach (var s in solutions)
                {
                    var y = (float[])x.Clone();
                    s.Get<RopeKernel>()(y, heads, d, cache, positions);
                    AssertClose(expected, y, 1e-5, $"{s.Name} d={d}");
                }
            }
    }

    [Fact]
    public void EveryGemmSolutionMatchesFloat64ForEveryWeightType()
    {
        using var pool = new WorkerPool(2);
        var context = new KernelContext(pool);
        foreach (var type in GgmlTypeInfo.All)
        {
            int block = GgmlTypeInfo.BlockSize(type);
            foreach (int k in block == 1 ? new[] { 1, 7, 64, 301 } : new[] { Math.Max(block, 32), 2 * Math.Max(block, 32) + (block == 32 ? 32 : 0) })
                foreach (int m in new[] { 1, 3 })
                foreach (bool prepared in new[] { false, true }) // as loaded by a model: 48 rows make whole interleaved Q8_0/Q4_0 groups
                {
                    int n = prepared ? 48 : 37;
                    var values = QuantizationTests.RandomValues(n * k, k + m, 1f);
                    int rowBytes = (int)GgmlTypeInfo.RowBytes(type, k);
                    var bytes = new byte[n * rowBytes];
                    for (int r = 0; r < n; r++) Quantize.Row(type, values.AsSpan(r * k, k), bytes.AsSpan(r * rowBytes, rowBytes));
                    var a = QuantizationTests.RandomValues(m * k, k * 7 + m, 2f);
                    var c = new float[m * n];
                    fixed (byte* bp = bytes)
                    fixed (float* ap = a, cp = c)
                    {
                        using var weights = new PreparedWeights();
                        var w = new WeightMatrix(bp, type, n, k);
                        if (prepared) w = weights.Prepare(w);
                        var shape = KernelShape.Gemm(n, k, type);
                        var solutions = Registry.Runnable(shape);
                        Assert.Equal(MatMul.HasIntegerPath(type) ? 3 : 2, solutions.Count);
                        foreach (var s in solutions)
                        {
                            var expected = ReferenceKernels.Gemm(w, a, m, s.QuantizesActivations);
                            Array.Clear(c);
                            s.Get<GemmKernel>()(context, w, ap, cp, m);
                            double tolerance = type is GgmlType.F16 or GgmlType.BF16 ? 1e-3 : 1e-4;
                            AssertClose(expected, c, tolerance, $"{s.Name} {type} k={k} m={m} prepared={prepared}");
                        }
                    }
                }
        }
    }

    [Theory]
    [InlineData(1, 4, 2, 16, true)]
    [InlineData(4, 4, 2, 20, true)]
    [InlineData(1, 6, 2, 64, false)]
    [InlineData(3, 3, 3, 8, false)]
    public void PagedAttentionMatchesFloat64(int pageSize, int hq, int hkv, int d, bool decode)
    {
        int[] kvLens = [5, 9, 1];
        int[] qoLens = decode ? [1, 1, 1] : [3, 9, 1];
        int batch = kvLens.Length;
        var kvIndptr = new int[batch + 1];
        var lastPageLen = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            int pages = (kvLens[b] + pageSize - 1) / pageSize;
            kvIndptr[b + 1] = kvIndptr[b] + pages;
            lastPageLen[b] = kvLens[b] - (pages - 1) * pageSize;
        }
        int numPages = kvIndptr[batch] + 2;
        // Pages handed out in reverse so the page table matters.
        var kvIndices = Enumerable.Range(0, kvIndptr[batch]).Select(i => numPages - 1 - i).ToArray();
        var qoIndptr = new int[batch + 1];
        for (int b = 0; b < batch; b++) qoIndptr[b + 1] = qoIndptr[b] + qoLens[b];
        int totalQ = qoIndptr[batch];
        var q = QuantizationTests.RandomValues(totalQ * hq * d, 11);
        var kCache = QuantizationTests.RandomValues(numPages * pageSize * hkv * d, 12); // NHD
        var vCache = QuantizationTests.RandomValues(numPages * pageSize * hkv * d, 13);
        float scale = 1f / MathF.Sqrt(d);
        var expected = ReferenceAttention.GqaPaged(q, kCache, vCache, hq, hkv, d, pageSize, qoIndptr, kvIndptr, kvIndices, lastPageLen, scale, out var lse);
        Assert.All(lse, v => Assert.True(double.IsFinite(v)));

        using var cache = new PagedKvCache(1, numPages, pageSize, hkv, d);
        int token = hkv * d;
        for (int p = 0; p < numPages; p++)
            for (int e = 0; e < pageSize; e++)
                cache.Write(0, p, e, kCache.AsSpan((p * pageSize + e) * token, token), vCache.AsSpan((p * pageSize + e) * token, token));
        var table = new PageTable(kvIndptr, kvIndices, lastPageLen, pageSize);
        using var pool = new WorkerPool(2);
        var context = new KernelContext(pool);
        var shape = decode ? KernelShape.GqaPagedDecode(hq, hkv, d, pageSize) : KernelShape.GqaPagedPrefill(hq, hkv, d, pageSize);
        var output = new float[totalQ * hq * d];
        foreach (var s in Registry.Runnable(shape))
            fixed (float* qp = q, op = output)
            {
                s.Get<GqaPagedKernel>()(context, cache, 0, table, qoIndptr, hq, qp, op, scale);
                AssertClose(expected, output, 1e-4, s.Name);
            }
    }

    [Fact]
    public void RaggedReferenceEqualsPagedReferenceWithPageSizeOne()
    {
        int hq = 4, hkv = 2, d = 8;
        int[] qoIndptr = [0, 2, 5], kvIndptr = [0, 4, 9];
        var q = QuantizationTests.RandomValues(5 * hq * d, 1);
        var k = QuantizationTests.RandomValues(9 * hkv * d, 2);
        var v = QuantizationTests.RandomValues(9 * hkv * d, 3);
        var ragged = ReferenceAttention.GqaRagged(q, k, v, hq, hkv, d, qoIndptr, kvIndptr, 0.3, out var lse1);
        var paged = ReferenceAttention.GqaPaged(q, k, v, hq, hkv, d, 1, qoIndptr, kvIndptr, Enumerable.Range(0, 9).ToArray(), [], 0.3, out var lse2);
        Assert.Equal(ragged, paged);
        Assert.Equal(lse1, lse2);
    }

    [Theory]
    [InlineData(0, 1f, 0f)]
    [InlineData(20, 1f, 0f)]
    [InlineData(0, 0.7f, 0f)]
    [InlineData(50, 0.9f, 0.05f)]
    [InlineData(1, 0.5f, 0f)]
    [InlineData(10, 0f, 0f)]
    public void SamplingDrawsFollowTheFilteredDistribution(int topK, float topP, float minP)
    {
        var logits = QuantizationTests.RandomValues(300, 5, 3f);
        Activations.SoftmaxInPlace(logits);
        var expected = ReferenceSampling.TopKTopPMinP(logits, topK, topP, minP);
        var scratch = new SamplingScratch(300);
        foreach (var s in Registry.Solutions(OpKind.Sampling))
        {
            var kernel = s.Get<SamplingKernel>();
            const int draws = 4000;
            var samples = new int[draws];
            for (int i = 0; i < draws; i++)
            {
                samples[i] = kernel(logits, topK, topP, minP, (i + 0.5) / draws, scratch);
                Assert.True(expected[samples[i]] > 0, $"{s.Name}: token {samples[i]} outside the support");
            }
            Assert.True(ReferenceSampling.TotalVariation(samples, expected) <= 0.02, s.Name);
        }
    }
}
