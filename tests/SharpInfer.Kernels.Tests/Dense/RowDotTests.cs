using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Tests.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Dense;

public unsafe class RowDotTests
{
    public static TheoryData<GgmlType> Types() => new(GgmlTypeInfo.All);

    /// <summary>float64 dot of the dequantized row with x.</summary>
    private static double Reference(GgmlType type, byte[] row, float[] x)
    {
        var w = new float[x.Length];
        Dequantize.Row(type, row, w);
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += (double)w[i] * x[i];
        return s;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatchesTheFloat64ReferenceAtEveryLength(GgmlType type)
    {
        int block = GgmlTypeInfo.BlockSize(type);
        for (int blocks = 1; blocks <= 40; blocks += type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 ? 1 : 3)
        {
            int n = block == 1 ? blocks * 7 : blocks * block; // odd lengths reach the scalar tails of float types
            var w = QuantizationTests.RandomValues(n, n, 2f);
            var x = QuantizationTests.RandomValues(n, n + 1);
            var row = new byte[GgmlTypeInfo.RowBytes(type, n)];
            Quantize.Row(type, w, row);
            double expected = Reference(type, row, x);
            double magnitude = 0;
            var wd = new float[n];
            Dequantize.Row(type, row, wd);
            for (int i = 0; i < n; i++) magnitude += Math.Abs((double)wd[i] * x[i]);
            float actual;
            fixed (byte* r = row) fixed (float* xp = x) actual = RowDot.Dot(type, r, xp, n);
            Assert.True(Math.Abs(actual - expected) <= 1e-5 * magnitude + 1e-6, $"{type} n={n}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void LongF32RowsMatchTheReferenceWhateverTheThreadCount()
    {
        int rows = 70, cols = 2048; // rows of 2048 take F32Rows, one row at a time; 70 rows split unevenly over 2 and 3 threads
        var w = QuantizationTests.RandomValues(rows * cols, 21);
        var x = QuantizationTests.RandomValues(cols, 22);
        float[] Run(int threads)
        {
            using var pool = new WorkerPool(threads);
            var y = new float[rows];
            fixed (float* wp = w) fixed (float* xp = x) fixed (float* yp = y)
                new MatMul(pool).Run(new WeightMatrix((byte*)wp, GgmlType.F32, rows, cols), xp, yp, 1);
            return y;
        }
        var one = Run(1);
        Assert.Equal(one, Run(2));
        Assert.Equal(one, Run(3));
        double maxRef = 0, maxErr = 0;
        for (int r = 0; r < rows; r++)
        {
            double e = 0;
            for (int i = 0; i < cols; i++) e += (double)w[r * cols + i] * x[i];
            maxRef = Math.Max(maxRef, Math.Abs(e));
            maxErr = Math.Max(maxErr, Math.Abs(e - one[r]));
        }
        Assert.True(maxErr <= 1e-4 * maxRef, $"max error {maxErr}, max |ref| {maxRef}");
    }

    [Fact]
    public void F16RowWithInfOrNaNGivesWhatTheExactConversionGives()
    {
        foreach (ushort special in new ushort[] { 0x7c00, 0xfc00, 0x7e00 }) // +inf, -inf, NaN
            foreach (int n in new[] { 64, 96, 100 })
            {
                var halves = Enumerable.Range(0, n).Select(i => BitConverter.HalfToUInt16Bits((Half)((i % 7) * 0.25f - 0.5f))).ToArray();
                halves[n / 2] = special;
                var x = Enumerable.Repeat(1f, n).ToArray();
                float expected = 0;
                for (int i = 0; i < n; i++) expected += (float)BitConverter.UInt16BitsToHalf(halves[i]) * x[i];
                float actual;
                fixed (ushort* h = halves) fixed (float* xp = x) actual = RowDot.Dot(GgmlType.F16, (byte*)h, xp, n);
                Assert.True(float.IsNaN(expected) ? float.IsNaN(actual) : actual == expected, $"0x{special:X4} n={n}: {actual} vs {expected}");
            }
    }

    /// <summary>RowDot.F16Prepared on x, or null when PrepareF16 refuses x.</summary>
    private static float? Prepared(ushort[] halves, float[] x)
    {
        int n = x.Length;
        var prepared = new float[n];
        fixed (ushort* h = halves) fixed (float* xp = x) fixed (float* pp = prepared)
            return RowDot.PrepareF16(xp, pp, n) ? RowDot.F16Prepared((byte*)h, pp, xp, n) : null;
    }

    [Fact]
    public void PreparedF16ActivationsHoldEachChunksEvenThenOddValuesScaledBy2To56()
    {
        const int n = 32 * 3 + 7;
        var x = QuantizationTests.RandomValues(n, 77);
        var prepared = new float[n];
        fixed (float* xp = x) fixed (float* pp = prepared) Assert.True(RowDot.PrepareF16(xp, pp, n));
        for (int c = 0; c + 32 <= n; c += 32)
            for (int j = 0; j < 16; j++)
            {
                Assert.Equal(x[c + 2 * j] * 72057594037927936f, prepared[c + j]);
                Assert.Equal(x[c + 2 * j + 1] * 72057594037927936f, prepared[c + 16 + j]);
            }
        for (int i = n / 32 * 32; i < n; i++) Assert.Equal(x[i], prepared[i]);
    }

    [Fact]
    public void PreparedF16DotMatchesTheFloat64ReferenceAtEveryLength()
    {
        if (!RowDot.HasPreparedF16) return; // needs AVX-512 (the reference machine has it); elsewhere F16 rows take RowDot.Dot, tested above
        for (int n = 1; n <= 200; n += 3) // whole 32-column chunks and every tail length
        {
            var w = QuantizationTests.RandomValues(n, 100 + n, 2f);
            var halves = w.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
            var x = QuantizationTests.RandomValues(n, 300 + n);
            double expected = 0, magnitude = 0;
            for (int i = 0; i < n; i++)
            {
                double p = (double)(float)BitConverter.UInt16BitsToHalf(halves[i]) * x[i];
                expected += p;
                magnitude += Math.Abs(p);
            }
            float? actual = Prepared(halves, x);
            Assert.NotNull(actual);
            Assert.True(Math.Abs(actual.Value - expected) <= 1e-5 * magnitude + 1e-6, $"n={n}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void PreparedF16DotIsExactOnSubnormalAndExtremeHalves()
    {
        if (!RowDot.HasPreparedF16) return; // needs AVX-512 (the reference machine has it); elsewhere F16 rows take RowDot.Dot, tested above
        // One nonzero product per row, so the float result must equal the exactly rounded product: every finite
        // half (subnormals, the largest 65504, negative zero) reaches its lane intact through the shifts and the split 2^112.
        const int n = 64;
        for (int bits = 0; bits < 0x7c00; bits += 37)
            foreach (int sign in new[] { 0, 0x8000 })
                foreach (int at in new[] { 0, 1, 30, 33 })
                {
                    var halves = new ushort[n];
                    halves[at] = (ushort)(bits | sign);
                    var x = new float[n];
                    x[at] = 3.0000002f;
                    float expected = (float)BitConverter.UInt16BitsToHalf(halves[at]) * x[at];
                    Assert.Equal(expected, Prepared(halves, x));
                }
    }

    [Fact]
    public void PreparedF16DotFallsBackForInfNaNAndHugeActivations()
    {
        if (!RowDot.HasPreparedF16) return; // needs AVX-512 (the reference machine has it); elsewhere F16 rows take RowDot.Dot, tested above
        foreach (ushort special in new ushort[] { 0x7c00, 0xfc00, 0x7e00 })
        {
            var halves = Enumerable.Range(0, 96).Select(i => BitConverter.HalfToUInt16Bits((Half)((i % 7) * 0.25f - 0.5f))).ToArray();
            halves[40] = special;
            var x = Enumerable.Repeat(1f, 96).ToArray();
            float expected = 0;
            for (int i = 0; i < 96; i++) expected += (float)BitConverter.UInt16BitsToHalf(halves[i]) * x[i];
            float actual = Prepared(halves, x)!.Value;
            Assert.True(float.IsNaN(expected) ? float.IsNaN(actual) : actual == expected, $"0x{special:X4}: {actual} vs {expected}");
        }
        // Activations at or beyond 2^70 would overflow once scaled by 2^56: PrepareF16 refuses them, as it does NaN.
        var ones = Enumerable.Repeat(BitConverter.HalfToUInt16Bits((Half)1), 64).ToArray();
        var huge = Enumerable.Repeat(1f, 64).ToArray();
        huge[5] = 2e21f;
        Assert.Null(Prepared(ones, huge));
        huge[5] = float.NaN;
        Assert.Null(Prepared(ones, huge));
        huge[5] = 1e21f; // just below 2^70: prepared, and still exact
        Assert.Equal(1e21f + 63f, Prepared(ones, huge));
    }

    [Fact]
    public void LongF16RowsThroughTheColumnBlockedCopy()
    {
        if (!RowDot.HasPreparedF16) return; // needs AVX-512; elsewhere no blocked copy is made
        Assert.Equal(0, RowDot.F16BlockColumns(2048)); // short rows stay row-major
        Assert.Equal(2816, RowDot.F16BlockColumns(5632));
        Assert.Equal(2048, RowDot.F16BlockColumns(8192));
        const int rows = 11, cols = 5632;
        var halves = QuantizationTests.RandomValues(rows * cols, 31, 2f).Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
        halves[7 * cols + 4000] = 0x7c00; // row 7 holds +inf in its second block
        var x = QuantizationTests.RandomValues(4 * cols, 32);
        fixed (ushort* h = halves) fixed (float* xp = x)
        {
            var plain = new WeightMatrix((byte*)h, GgmlType.F16, rows, cols);
            nint xAddress = (nint)xp;
            byte* blockedCopy = RowDot.BlockF16(plain, 2816);
            try
            {
                var blocked = plain.WithBlocked(blockedCopy, 2816);
                float[] Run(WeightMatrix w, int threads, int tokens, int gemv, int firstToken = 0)
                {
                    using var pool = new WorkerPool(threads);
                    var y = new float[tokens * rows];
                    fixed (float* yp = y) new MatMul(pool).Run(w, (float*)xAddress + firstToken * cols, yp, tokens, gemv);
                    return y;
                }
                var one = Run(blocked, 1, 1, 1);
                Assert.Equal(one, Run(blocked, 2, 1, 1));
                Assert.Equal(one, Run(blocked, 3, 1, 1));
                double maxRef = 0, maxErr = 0;
                for (int r = 0; r < rows; r++)
                {
                    double e = 0;
                    for (int i = 0; i < cols; i++) e += (double)(float)BitConverter.UInt16BitsToHalf(halves[r * cols + i]) * x[i];
                    if (r == 7) { Assert.Equal(double.PositiveInfinity, e); Assert.True(float.IsPositiveInfinity(one[r]) || float.IsNaN(one[r]), $"row 7: {one[r]}"); continue; }
                    maxRef = Math.Max(maxRef, Math.Abs(e));
                    maxErr = Math.Max(maxErr, Math.Abs(e - one[r]));
                }
                Assert.True(maxErr <= 1e-5 * maxRef, $"max error {maxErr}, max |ref| {maxRef}");
                // Three decode tokens at once: each has the bits it has alone.
                var three = Run(blocked, 2, 3, 3);
                for (int t = 0; t < 3; t++)
                {
                    var alone = Run(blocked, 1, 1, 1, t);
                    for (int r = 0; r < rows; r++)
                        Assert.Equal(BitConverter.SingleToInt32Bits(alone[r]), BitConverter.SingleToInt32Bits(three[t * rows + r]));
                }
                // Prompt tokens (the GEMM) read the blocked copy and get the bits the row-major matrix gives.
                Assert.Equal(Run(plain, 2, 4, 0), Run(blocked, 2, 4, 0));
            }
            finally { BlockScales.Free(blockedCopy); }
        }
    }

    /// <summary>The activations the integer path of a weight type multiplies: x quantized to int8 blocks of its length and dequantized again.</summary>
    private static float[] QuantizedActivations(float[] x, int cols, GgmlType type)
    {
        int block = ActivationQuantizer.BlockSizeFor(type);
        var q = new sbyte[x.Length];
        var d = new float[x.Length / block];
        for (int t = 0; t < x.Length / cols; t++)
            ActivationQuantizer.QuantizeFor(type, x.AsSpan(t * cols, cols), q.AsSpan(t * cols, cols), d.AsSpan(t * cols / block, cols / block));
        return q.Select((v, i) => v * d[i / block]).ToArray();
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, false)]
    [InlineData(GgmlType.Q8_0, true)]
    [InlineData(GgmlType.Q4_0, false)]
    [InlineData(GgmlType.Q4_0, true)]
    [InlineData(GgmlType.F32, true)]
    [InlineData(GgmlType.F16, true)]
    [InlineData(GgmlType.BF16, true)]
    [InlineData(GgmlType.Q4_K, true)]
    [InlineData(GgmlType.Q6_K, true)]
    public void MatMulIsTheSameForAnyThreadCountAndMatchesTheReference(GgmlType type, bool quantizeActivations)
    {
        int rows = 70, cols = 512, tokens = 3;
        var wValues = QuantizationTests.RandomValues(rows * cols, 3);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var wBytes = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) Quantize.Row(type, wValues.AsSpan(r * cols, cols), wBytes.AsSpan(r * rowBytes, rowBytes));
        var x = QuantizationTests.RandomValues(tokens * cols, 4);
        float[] Run(int threads, int tokenCount)
        {
            using var pool = new WorkerPool(threads);
            var y = new float[tokenCount * rows];
            fixed (byte* wp = wBytes) fixed (float* xp = x) fixed (float* yp = y)
                new MatMul(pool) { QuantizeActivations = quantizeActivations, IntegerPathMaxTokens = int.MaxValue }.Run(new WeightMatrix(wp, type, rows, cols), xp, yp, tokenCount);
            return y;
        }
        // A path that quantizes activations is compared with a reference that quantizes them the same way.
        bool integerPath = quantizeActivations && MatMul.HasIntegerPath(type);
        var xRef = integerPath ? QuantizedActivations(x, cols, type) : x;
        var one = Run(1, tokens);
        Assert.Equal(one, Run(2, tokens));
        Assert.Equal(one, Run(3, tokens));
        double maxRef = 0, maxErr = 0;
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double e = Reference(type, wBytes.AsSpan(r * rowBytes, rowBytes).ToArray(), xRef.AsSpan(t * cols, cols).ToArray());
                maxRef = Math.Max(maxRef, Math.Abs(e));
                maxErr = Math.Max(maxErr, Math.Abs(e - one[t * rows + r]));
            }
        Assert.True(maxErr <= 1e-4 * maxRef, $"{type}: max error {maxErr}, max |ref| {maxRef}");
        // The single-token path (typed dot) agrees with the batched path (dequantize then dot) to float precision.
        var single = Run(2, 1);
        for (int r = 0; r < rows; r++) Assert.True(Math.Abs(single[r] - one[r]) <= 1e-4 * maxRef);
    }
}

public unsafe class IntegerDotTests
{
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void VectorPathsEqualTheScalarDefinitionAtEveryBlockCount(GgmlType type)
    {
        for (int blocks = 1; blocks <= 21; blocks++)
        {
            int n = blocks * 32;
            var w = QuantizationTests.RandomValues(n, blocks, 3f);
            var x = QuantizationTests.RandomValues(n, blocks + 100, 7f);
            var row = new byte[GgmlTypeInfo.RowBytes(type, n)];
            Quantize.Row(type, w, row);
            var q = new sbyte[n];
            var d = new float[blocks];
            var sums = new int[blocks];
            ActivationQuantizer.Quantize(x, q, d, sums);
            for (int b = 0; b < blocks; b++) Assert.Equal(q.AsSpan(b * 32, 32).ToArray().Sum(v => (int)v), sums[b]);
            fixed (byte* r = row) fixed (sbyte* qp = q) fixed (float* dp = d) fixed (int* sp = sums)
            {
                float scalar = IntegerDot.Scalar(type, r, qp, dp, blocks);
                float fast = IntegerDot.Dot(type, r, qp, dp, sp, n);
                double magnitude = 0;
                var wd = new float[n];
                Dequantize.Row(type, row, wd);
                double exact = 0;
                for (int i = 0; i < n; i++) { exact += (double)wd[i] * q[i] * d[i / 32]; magnitude += Math.Abs((double)wd[i] * q[i] * d[i / 32]); }
                Assert.True(Math.Abs(fast - exact) <= 1e-5 * magnitude, $"{type} blocks={blocks}: {fast} vs {exact}");
                Assert.True(Math.Abs(scalar - exact) <= 1e-5 * magnitude, $"{type} blocks={blocks}: scalar {scalar} vs {exact}");
                // With a precomputed block-scale table: the same scales, so the same bits.
                var w2 = new WeightMatrix(r, type, 1, n);
                float* table = BlockScales.Create(w2);
                try
                {
                    Assert.Equal(fast, IntegerDot.Dot(type, r, table, qp, dp, sp, n));
                    if (type == GgmlType.Q8_0 && IntegerDot.HasGroupedQ4_0)
                    {
                        float grouped = IntegerDot.DotQ8_0Grouped(r, table, qp, dp, n);
                        Assert.True(Math.Abs(grouped - exact) <= 1e-5 * magnitude, $"grouped Q8_0 blocks={blocks}: {grouped} vs {exact}");
                        byte* packed = BlockScales.Pack(w2);
                        try { Assert.Equal(grouped, IntegerDot.DotQ8_0Grouped(r, table, qp, dp, n, (sbyte*)packed)); } // same values, same bits
                        finally { BlockScales.Free(packed); }
                    }
                }
                finally { BlockScales.Free(table); }
            }
        }
    }

    [Fact]
    public void GroupedQ4_0KernelOnPermutedActivationsMatchesTheExactSum()
    {
        if (!IntegerDot.HasGroupedQ4_0) return; // needs AVX-512BW; the other paths are covered above
        for (int blocks = 1; blocks <= 23; blocks++)
        {
            int n = blocks * 32;
            var w = QuantizationTests.RandomValues(n, blocks + 7, 3f);
            var x = QuantizationTests.RandomValues(n, blocks + 300, 5f);
            var row = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q4_0, n)];
            Quantize.Row(GgmlType.Q4_0, w, row);
            var q = new sbyte[n];
            var permuted = new sbyte[IntegerDot.Q4_0PreparedBytes(n)];
            var padded = new float[IntegerDot.Q4_0PreparedScales(n)];
            var scaledSums = new float[IntegerDot.Q4_0PreparedScales(n)];
            var d = new float[blocks];
            var sums = new int[blocks];
            ActivationQuantizer.Quantize(x, q, d, sums);
            IntegerDot.PrepareQ4_0(q, d, sums, permuted, padded, scaledSums);
            var wd = new float[n];
            Dequantize.Row(GgmlType.Q4_0, row, wd);
            double exact = 0, magnitude = 0;
            for (int i = 0; i < n; i++) { exact += (double)wd[i] * q[i] * d[i / 32]; magnitude += Math.Abs((double)wd[i] * q[i] * d[i / 32]); }
            fixed (byte* r = row) fixed (sbyte* pp = permuted) fixed (float* dp = padded) fixed (float* sp = scaledSums)
            {
                float* table = BlockScales.Create(new WeightMatrix(r, GgmlType.Q4_0, 1, n));
                try
                {
                    float grouped = IntegerDot.DotQ4_0Grouped(r, table, pp, dp, sp, n);
                    Assert.True(Math.Abs(grouped - exact) <= 1e-5 * magnitude, $"blocks={blocks}: {grouped} vs {exact}");
                    // The packed nibbles are the same values in another place: the same bits, alone and per token.
                    byte* nibbles = BlockScales.Pack(new WeightMatrix(r, GgmlType.Q4_0, 1, n));
                    try
                    {
                        Assert.Equal(grouped, IntegerDot.DotQ4_0Grouped(r, table, pp, dp, sp, n, nibbles));
                        float fromRow, fromNibbles;
                        IntegerDot.DotQ4_0GroupedTokens(r, table, pp, dp, sp, n, 1, &fromRow, 1);
                        IntegerDot.DotQ4_0GroupedTokens(r, table, pp, dp, sp, n, 1, &fromNibbles, 1, nibbles);
                        Assert.Equal(grouped, fromRow);
                        Assert.Equal(fromRow, fromNibbles);
                    }
                    finally { BlockScales.Free(nibbles); }
                }
                finally { BlockScales.Free(table); }
            }
        }
    }

    [Fact]
    public void Q4_0PreparationPutsFirstHalvesThenSecondHalvesOfEachGroupOfFourAndPadsThePartialGroup()
    {
        var natural = Enumerable.Range(0, 160).Select(i => (sbyte)(i - 80)).ToArray(); // 5 blocks: one group + one partial
        var scales = new float[] { 1, 2, 3, 4, 5 };
        var sums = new[] { 10, -20, 30, -40, 50 };
        var permuted = new sbyte[IntegerDot.Q4_0PreparedBytes(160)];
        var padded = new float[IntegerDot.Q4_0PreparedScales(160)];
        var scaledSums = new float[IntegerDot.Q4_0PreparedScales(160)];
        Array.Fill(permuted, (sbyte)99); Array.Fill(padded, 99f); Array.Fill(scaledSums, 99f); // stale values must not survive
        IntegerDot.PrepareQ4_0(natural, scales, sums, permuted, padded, scaledSums);
        Assert.Equal(256, permuted.Length);
        for (int b = 0; b < 5; b++)
            for (int j = 0; j < 16; j++)
            {
                int g = b / 4, k = b % 4;
                Assert.Equal(natural[32 * b + j], permuted[128 * g + 16 * k + j]);
                Assert.Equal(natural[32 * b + 16 + j], permuted[128 * g + 64 + 16 * k + j]);
            }
        for (int k = 1; k < 4; k++) // the absent blocks of the partial group are zero
            for (int j = 0; j < 16; j++) { Assert.Equal(0, permuted[128 + 16 * k + j]); Assert.Equal(0, permuted[192 + 16 * k + j]); }
        Assert.Equal([1f, 2, 3, 4, 5, 0, 0, 0], padded);
        Assert.Equal([10f, -40, 90, -160, 250, 0, 0, 0], scaledSums);
    }

    [Fact]
    public void ActivationQuantizerVectorPathEqualsTheScalarDefinition()
    {
        var x = QuantizationTests.RandomValues(32 * 40, 9, 50f);
        x[5] = 0; x[40] = -50f; // an exact extreme and a zero
        for (int i = 64; i < 96; i++) x[i] = 0; // an all-zero block
        // Block 4: scale exactly 1, so these land on halves and must round to even (2, -4, 0, 2).
        for (int i = 128; i < 160; i++) x[i] = 0.25f;
        x[128] = 127f; x[129] = 2.5f; x[130] = -3.5f; x[131] = 0.5f; x[132] = 1.5f;
        // Block 5: values so small that 1 / d overflows; they quantize to zeros with a scale of their own.
        for (int i = 160; i < 192; i++) x[i] = (i % 2 == 0 ? 1 : -1) * 1e-38f * (i - 159) / 32;
        var q = new sbyte[x.Length];
        var d = new float[40];
        var sums = new int[40];
        ActivationQuantizer.Quantize(x, q, d, sums);
        // The one-pass int16 form, with and without the int8 values and sums.
        var widened = new short[x.Length];
        var q2 = new sbyte[x.Length];
        var d2 = new float[40];
        var sums2 = new int[40];
        ActivationQuantizer.QuantizeWidened(x, widened, d2, q2, sums2);
        var widenedOnly = new short[x.Length];
        var d3 = new float[40];
        ActivationQuantizer.QuantizeWidened(x, widenedOnly, d3);
        var qs = new sbyte[32];
        for (int b = 0; b < 40; b++)
        {
            ActivationQuantizer.QuantizeBlockScalar(x.AsSpan(b * 32, 32), qs, out float ds);
            Assert.Equal(ds, d[b]);
            Assert.Equal(ds, d2[b]);
            Assert.Equal(ds, d3[b]);
            Assert.Equal(qs, q.AsSpan(b * 32, 32).ToArray());
            Assert.Equal(qs, q2.AsSpan(b * 32, 32).ToArray());
            Assert.Equal(qs.Select(v => (short)v), widened.AsSpan(b * 32, 32).ToArray());
            Assert.Equal(qs.Select(v => (short)v), widenedOnly.AsSpan(b * 32, 32).ToArray());
            Assert.Equal(qs.Sum(v => v), sums[b]);
            Assert.Equal(qs.Sum(v => v), sums2[b]);
        }
        Assert.Equal(0f, d[2]);
        Assert.All(q.AsSpan(64, 32).ToArray(), v => Assert.Equal(0, v));
        Assert.Equal(1f, d[4]);
        Assert.Equal([127, 2, -4, 0, 2, 0], q.AsSpan(128, 6).ToArray());
        Assert.True(d[5] > 0);
        Assert.All(q.AsSpan(160, 32).ToArray(), v => Assert.Equal(0, v));
        Assert.Equal(0, sums2[5]);
        // The int16 form with sums but without int8 values (an interleaved Q4_0 call).
        var widened4 = new short[x.Length];
        var d4 = new float[40];
        var sums4 = new int[40];
        ActivationQuantizer.QuantizeWidened(x, widened4, d4, sums: sums4);
        Assert.Equal(widened, widened4);
        Assert.Equal(d, d4);
        Assert.Equal(sums, sums4);
        // The strided form of the VNNI kernels (blocks 96 bytes apart, entries 3 apart): the same values, minus the sums;
        // the bytes between blocks stay as they were.
        var strided = new sbyte[40 * 96];
        Array.Fill(strided, (sbyte)77);
        var d5 = new float[40 * 3];
        var negated = new int[40 * 3];
        fixed (sbyte* sp = strided) fixed (float* dp = d5) fixed (int* np = negated)
            ActivationQuantizer.QuantizeStrided(x, sp, 96, dp, np, 3);
        for (int b = 0; b < 40; b++)
        {
            Assert.Equal(q.AsSpan(b * 32, 32).ToArray(), strided.AsSpan(b * 96, 32).ToArray());
            Assert.All(strided.AsSpan(b * 96 + 32, 64).ToArray(), v => Assert.Equal(77, v));
            Assert.Equal(d[b], d5[3 * b]);
            Assert.Equal(-sums[b], negated[3 * b]);
        }
    }
}
