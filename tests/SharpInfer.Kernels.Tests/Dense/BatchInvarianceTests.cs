using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Tests.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Dense;

/// <summary>
/// A token's result must not depend on what else is in the batch (the serving engine compares concurrent and
/// one-at-a-time generations token for token). These tests demand bitwise equality, not closeness.
/// </summary>
public unsafe class BatchInvarianceTests
{
    private static (byte[] Row, float[] Values) QuantizedRow(GgmlType type, int n, int seed)
    {
        var w = QuantizationTests.RandomValues(n, seed, 3f);
        var row = new byte[GgmlTypeInfo.RowBytes(type, n)];
        Quantize.Row(type, w, row);
        return (row, w);
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void MultiTokenKernelsGiveEachTokenTheBitsOfTheSingleTokenKernel(GgmlType type)
    {
        if (!IntegerDot.HasGroupedQ4_0) return; // the grouped kernels need AVX-512BW; other machines loop the single kernel
        foreach (int blocks in new[] { 4, 7, 18, 48 })
        {
            int n = blocks * 32;
            var (row, _) = QuantizedRow(type, n, blocks);
            for (int tokens = 1; tokens <= 9; tokens++)
            {
                var q = new sbyte[tokens * n];
                var negated = new sbyte[tokens * n];
                int pq = IntegerDot.Q4_0PreparedBytes(n), ps = IntegerDot.Q4_0PreparedScales(n);
                var permuted = new sbyte[tokens * pq];
                var padded = new float[tokens * ps];
                var scaledSums = new float[tokens * ps];
                var d = new float[tokens * blocks];
                var sums = new int[tokens * blocks];
                int spreadPerToken = IntegerDot.Q8_0SpreadFloats(n);
                var spread = new float[Math.Max(1, tokens * spreadPerToken)];
                for (int t = 0; t < tokens; t++)
                {
                    var x = QuantizationTests.RandomValues(n, 1000 * tokens + t, 5f);
                    ActivationQuantizer.Quantize(x, q.AsSpan(t * n, n), d.AsSpan(t * blocks, blocks), sums.AsSpan(t * blocks, blocks));
                    IntegerDot.PrepareQ8_0Tokens(q.AsSpan(t * n, n), d.AsSpan(t * blocks, blocks), negated.AsSpan(t * n, n), spread.AsSpan(t * spreadPerToken, spreadPerToken));
                    IntegerDot.PrepareQ4_0(q.AsSpan(t * n, n), d.AsSpan(t * blocks, blocks), sums.AsSpan(t * blocks, blocks),
                        permuted.AsSpan(t * pq, pq), padded.AsSpan(t * ps, ps), scaledSums.AsSpan(t * ps, ps));
                }
                var y = new float[tokens * 3];
                fixed (byte* r = row) fixed (sbyte* qp = q) fixed (sbyte* np = negated) fixed (sbyte* pp = permuted) fixed (float* dp = d) fixed (float* sp = spread) fixed (float* pd = padded) fixed (float* pcs = scaledSums) fixed (float* yp = y)
                {
                    float* table = BlockScales.Create(new WeightMatrix(r, type, 1, n));
                    try
                    {
                        if (type == GgmlType.Q8_0) IntegerDot.DotQ8_0GroupedTokens(r, table, qp, np, sp, n, tokens, yp, 3);
                        else IntegerDot.DotQ4_0GroupedTokens(r, table, pp, pd, pcs, n, tokens, yp, 3);
                        for (int t = 0; t < tokens; t++)
                        {
                            float single = type == GgmlType.Q8_0
                                ? IntegerDot.DotQ8_0Grouped(r, table, qp + t * n, dp + t * blocks, n)
                                : IntegerDot.DotQ4_0Grouped(r, table, pp + t * pq, pd + t * ps, pcs + t * ps, n);
                            Assert.True(BitConverter.SingleToInt32Bits(single) == BitConverter.SingleToInt32Bits(y[t * 3]),
                                $"{type} blocks={blocks} tokens={tokens} token {t}: batched {y[t * 3]:R} != single {single:R}");
                        }
                    }
                    finally { BlockScales.Free(table); }
                }
            }
        }
    }

    public static TheoryData<GgmlType, bool, int> Cases()
    {
        var data = new TheoryData<GgmlType, bool, int>();
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0 })
        {
            data.Add(type, true, 576); // 18 blocks: four groups of four and a tail of two
            data.Add(type, false, 576);
        }
        data.Add(GgmlType.Q4_0, true, 512); // whole groups: every token takes the int8 path
        return data;
    }

    private static float[] RunMatMul(WeightMatrix w, nint x, int threads, int count, int gemv)
    {
        using var pool = new WorkerPool(threads);
        var y = GC.AllocateArray<float>(count * w.Rows, pinned: true);
        fixed (float* yp = y) new MatMul(pool).Run(w, (float*)x, yp, count, gemv);
        return y;
    }

    /// <summary>
    /// MatMul over [decode tokens | prompt tokens]: every decode token equals the same token run alone, every prompt
    /// token equals the same token in a GEMM of a different size, whatever the split and the thread count.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void MatMulTokenResultsDoNotDependOnTheBatch(GgmlType type, bool withScales, int cols)
    {
        const int rows = 37;
        var values = QuantizationTests.RandomValues(rows * cols, 5, 2f);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var data = GC.AllocateArray<byte>((int)(rows * rowBytes), pinned: true);
        for (int r = 0; r < rows; r++) Quantize.Row(type, values.AsSpan(r * cols, cols), data.AsSpan((int)(r * rowBytes), (int)rowBytes));
        const int tokens = 11;
        var x = GC.AllocateArray<float>(tokens * cols, pinned: true);
        QuantizationTests.RandomValues(tokens * cols, 77, 1.5f).CopyTo(x, 0);
        fixed (byte* dp = data) fixed (float* xp = x)
        {
            var w = new WeightMatrix(dp, type, rows, cols);
            float* table = withScales && BlockScales.Applies(type) ? BlockScales.Create(w) : null;
            if (table != null) w = w.WithScales(table);
            try
            {
                nint xAddress = (nint)xp;
                float[] Run(int threads, int first, int count, int gemv) => RunMatMul(w, xAddress + first * cols * sizeof(float), threads, count, gemv);
                var mixed = Run(2, 0, tokens, 4); // tokens 0..3 decode, 4..10 prompt
                for (int t = 0; t < 4; t++)
                {
                    var alone = Run(1, t, 1, 1);
                    var pair = Run(2, t == 0 ? 0 : t - 1, 2, 2);
                    for (int r = 0; r < rows; r++)
                    {
                        Assert.Equal(BitConverter.SingleToInt32Bits(alone[r]), BitConverter.SingleToInt32Bits(mixed[t * rows + r]));
                        Assert.Equal(BitConverter.SingleToInt32Bits(alone[r]), BitConverter.SingleToInt32Bits(pair[(t == 0 ? 0 : 1) * rows + r]));
                    }
                }
                var prompt = Run(1, 5, 6, 0); // tokens 5..10 as a GEMM of 6 (a different tile split)
                for (int t = 5; t < tokens; t++)
                    for (int r = 0; r < rows; r++)
                        Assert.Equal(BitConverter.SingleToInt32Bits(prompt[(t - 5) * rows + r]), BitConverter.SingleToInt32Bits(mixed[t * rows + r]));
            }
            finally { BlockScales.Free(table); }
        }
    }

    /// <summary>
    /// Q4_0 rows of whole four-block groups send prompt tokens through the int8 path too (faster than the float GEMM
    /// there): a prompt token then has exactly the bits of the same token decoded alone, and rows with a tail of
    /// blocks keep the float GEMM (whose bits differ from the int8 path's).
    /// </summary>
    [Theory]
    [InlineData(512, true)]
    [InlineData(576, false)]
    public void Q4_0PromptTokensTakeTheInt8PathExactlyWhenRowsAreWholeGroups(int cols, bool int8ForPrompts)
    {
        if (!IntegerDot.HasGroupedQ4_0) return; // needs AVX-512BW; elsewhere prompts always take the GEMM
        const int rows = 40, tokens = 8;
        var values = QuantizationTests.RandomValues(rows * cols, 9, 2f);
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q4_0, cols);
        var data = GC.AllocateArray<byte>((int)(rows * rowBytes), pinned: true);
        for (int r = 0; r < rows; r++) Quantize.Row(GgmlType.Q4_0, values.AsSpan(r * cols, cols), data.AsSpan((int)(r * rowBytes), (int)rowBytes));
        var x = GC.AllocateArray<float>(tokens * cols, pinned: true);
        QuantizationTests.RandomValues(tokens * cols, 10, 1.5f).CopyTo(x, 0);
        fixed (byte* dp = data) fixed (float* xp = x)
        {
            var w = new WeightMatrix(dp, GgmlType.Q4_0, rows, cols);
            float* table = BlockScales.Create(w);
            w = w.WithScales(table);
            try
            {
                var prompt = RunMatMul(w, (nint)xp, 2, tokens, 0); // a prompt: no decode tokens
                int same = 0;
                for (int t = 0; t < tokens; t++)
                {
                    var alone = RunMatMul(w, (nint)(xp + t * cols), 1, 1, 1);
                    for (int r = 0; r < rows; r++) same += BitConverter.SingleToInt32Bits(alone[r]) == BitConverter.SingleToInt32Bits(prompt[t * rows + r]) ? 1 : 0;
                }
                if (int8ForPrompts) Assert.Equal(tokens * rows, same);
                else Assert.True(same < tokens * rows / 2, $"{same} of {tokens * rows} prompt values have the int8 bits: the GEMM did not run");
            }
            finally { BlockScales.Free(table); }
        }
    }
}
