using System.Runtime.InteropServices;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Reference;
using SharpInfer.Kernels.Tests.Quantization;
using SharpInfer.Kernels.Threading;
using Xunit.Abstractions;

namespace SharpInfer.Kernels.Tests.Dense;

/// <summary>
/// The VNNI kernels of Q4_K and Q6_K matrices interleaved by 16 rows (<see cref="InterleavedGemm.InterleaveKQuant"/>):
/// the copy holds the format's values, scales and mins; products match a float64 reference of the same quantized
/// weights and super-block activations; a token's bits do not depend on the batch or the threads; extremes stay exact.
/// </summary>
public unsafe class InterleavedKQuantTests(ITestOutputHelper output)
{
    /// <summary>
    /// Random super-blocks (every value bit, packed scale and min, Q6_K scales down to -128) with small finite f16 d
    /// (and dmin).
    /// </summary>
    private static byte[] RandomRows(GgmlType type, int rows, int superBlocks, int seed)
    {
        var random = new Random(seed);
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        var data = GC.AllocateArray<byte>(rows * superBlocks * blockBytes, pinned: true);
        random.NextBytes(data);
        ushort Half() => BitConverter.HalfToUInt16Bits((Half)(random.NextSingle() * 0.02f + 1e-4f));
        for (int b = 0; b < rows * superBlocks; b++)
            if (type == GgmlType.Q4_K)
            {
                BitConverter.TryWriteBytes(data.AsSpan(b * blockBytes), Half());
                BitConverter.TryWriteBytes(data.AsSpan(b * blockBytes + 2), Half());
            }
            else BitConverter.TryWriteBytes(data.AsSpan(b * blockBytes + 208), Half());
        return data;
    }

    private static float[] Run(WeightMatrix w, float[] x, int first, int count, int threads)
    {
        using var pool = new WorkerPool(threads);
        var y = GC.AllocateArray<float>(count * w.Rows, pinned: true);
        fixed (float* xp = x) fixed (float* yp = y)
            new MatMul(pool).Run(w, xp + (long)first * w.Columns, yp, count);
        return y;
    }

    [Fact]
    public void TheQ4_KCopyHoldsEachRowsValuesScalesAndMins()
    {
        if (!InterleavedGemm.HasQuadKernels) { output.WriteLine($"no VNNI kernels: {InterleavedGemm.QuadKernelsUnavailable}"); return; }
        const int rows = 32, cols = 512, superBlocks = cols / 256;
        var data = RandomRows(GgmlType.Q4_K, rows, superBlocks, 1);
        fixed (byte* p = data)
        {
            var w = new WeightMatrix(p, GgmlType.Q4_K, rows, cols);
            Assert.True(InterleavedGemm.SuitsKQuant(w));
            byte* copy = InterleavedGemm.InterleaveKQuant(w);
            try
            {
                for (int r = 0; r < rows; r++)
                    for (int s = 0; s < superBlocks; s++)
                    {
                        byte* block = p + (long)r * w.RowBytes + s * 144, group = copy + ((long)(r / 16) * superBlocks + s) * InterleavedGemm.Q4_KGroupBytes;
                        int i = r % 16;
                        Assert.Equal(((ushort*)block)[0], ((ushort*)group)[i]);
                        Assert.Equal(((ushort*)block)[1], ((ushort*)group)[16 + i]);
                        for (int j = 0; j < 8; j++)
                        {
                            var (scale, min) = Dequantize.ScaleMinK4(j, new ReadOnlySpan<byte>(block + 4, 12));
                            Assert.Equal(scale, group[64 + 16 * j + i]);
                            Assert.Equal(min, group[192 + 16 * j + i]);
                            for (int k = 0; k < 32; k++)
                            {
                                // The format: 32 bytes per pair of sub-blocks, the even sub-block in the low nibbles.
                                byte packed = block[16 + 32 * (j / 2) + k];
                                int expected = j % 2 == 0 ? packed & 0x0F : packed >> 4;
                                int q = k / 4, c = q % 4;
                                byte stored = group[320 + 256 * j + 64 * c + 4 * i + k % 4];
                                Assert.True(expected == (q < 4 ? stored & 0x0F : stored >> 4), $"row {r} super-block {s} sub-block {j} value {k}");
                            }
                        }
                    }
            }
            finally { BlockScales.Free(copy); }
        }
    }

    /// <summary>The Q6_K copy against the format's definition: each value (low and high bits), the int8 scales, d.</summary>
    [Fact]
    public void TheQ6_KCopyHoldsEachRowsValuesScalesAndD()
    {
        if (!InterleavedGemm.HasQuadKernels) { output.WriteLine($"no VNNI kernels: {InterleavedGemm.QuadKernelsUnavailable}"); return; }
        const int rows = 32, cols = 512, superBlocks = cols / 256;
        var data = RandomRows(GgmlType.Q6_K, rows, superBlocks, 4);
        var values = new float[cols];
        fixed (byte* p = data)
        {
            var w = new WeightMatrix(p, GgmlType.Q6_K, rows, cols);
            Assert.True(InterleavedGemm.SuitsKQuant(w));
            byte* copy = InterleavedGemm.InterleaveKQuant(w);
            try
            {
                for (int r = 0; r < rows; r++)
                {
                    w.DequantizeRow(r, values);
                    for (int s = 0; s < superBlocks; s++)
                    {
                        byte* block = p + (long)r * w.RowBytes + s * 210, group = copy + ((long)(r / 16) * superBlocks + s) * InterleavedGemm.Q6_KGroupBytes;
                        int i = r % 16;
                        Assert.Equal(*(ushort*)(block + 208), ((ushort*)(group + 256))[i]);
                        float d = (float)BitConverter.UInt16BitsToHalf(*(ushort*)(block + 208));
                        for (int j = 0; j < 16; j++) Assert.Equal(block[192 + j], group[16 * j + i]);
                        for (int k = 0; k < 256; k++)
                        {
                            int b = k / 32, q = k % 32 / 4, c = q % 4, low = group[320 + 384 * b + 64 * c + 4 * i + k % 4];
                            int lowBits = q < 4 ? low & 0x0F : low >> 4;
                            int highBits = group[320 + 384 * b + 256 + 64 * (q / 4) + 4 * i + k % 4] >> (2 * (q % 4)) & 3;
                            // The value the copy holds, through the format's own scale and offset, is the dequantized one.
                            float fromCopy = d * (sbyte)group[16 * (k / 16) + i] * ((lowBits | highBits << 4) - 32);
                            Assert.True(fromCopy == values[256 * s + k], $"row {r} super-block {s} value {k}: copy {fromCopy}, format {values[256 * s + k]}");
                        }
                    }
                }
            }
            finally { BlockScales.Free(copy); }
        }
    }

    /// <summary>
    /// 48 x 512 and 32 x 2048 through the model's preparation (PreparedWeights), every token count 1..19 (chunks of 8
    /// and every remainder) on one and two threads: within 1e-4 of a float64 reference of the same dequantized weights
    /// and the same super-block activations, and each token's bits those it has alone.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_K, 48, 512)]
    [InlineData(GgmlType.Q4_K, 32, 2048)]
    [InlineData(GgmlType.Q6_K, 48, 512)]
    [InlineData(GgmlType.Q6_K, 32, 2048)]
    public void ProductsMatchTheReferenceAndDoNotDependOnTheBatch(GgmlType type, int rows, int cols)
    {
        if (!InterleavedGemm.HasQuadKernels) { output.WriteLine($"no VNNI kernels: {InterleavedGemm.QuadKernelsUnavailable}"); return; }
        const int tokens = 19;
        var data = RandomRows(type, rows, cols / 256, 2);
        var x = GC.AllocateArray<float>(tokens * cols, pinned: true);
        QuantizationTests.RandomValues(tokens * cols, 3, 1.5f).CopyTo(x, 0);
        fixed (byte* p = data)
        {
            var plain = new WeightMatrix(p, type, rows, cols);
            using var weights = new PreparedWeights();
            var w = weights.Prepare(plain);
            Assert.True(InterleavedGemm.AppliesKQuant(w));
            var all = Run(w, x, 0, tokens, threads: 2);
            var reference = ReferenceKernels.Gemm(plain, x, tokens, quantizeActivations: true);
            double maxRef = reference.Max(Math.Abs), maxErr = 0;
            for (int i = 0; i < all.Length; i++) maxErr = Math.Max(maxErr, Math.Abs(all[i] - reference[i]));
            output.WriteLine($"{type} {rows} x {cols}, {tokens} tokens: max |out - ref| {maxErr:E2} ({maxErr / maxRef:E2} of max |ref|)");
            Assert.True(maxErr <= 1e-4 * maxRef, $"max |out - ref| {maxErr:E3} > 1e-4 * max |ref| {maxRef:E3}");
            for (int count = 1; count <= tokens; count++)
                foreach (int threads in new[] { 1, 2 })
                {
                    int first = tokens - count;
                    var part = Run(w, x, first, count, threads);
                    for (int i = 0; i < count * rows; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(all[first * rows + i]) == BitConverter.SingleToInt32Bits(part[i]),
                            $"{count} tokens on {threads} threads, element {i}: {part[i]:R} != {all[first * rows + i]:R}");
                }
        }
    }

    /// <summary>
    /// The int32 sums' extremes give the float64 value exactly, activations all +127 or all -127 with scale 1. Q4_K:
    /// every scale and min 63, every nibble 15 (or 15 and 0); |S_j| = 32 x 15 x 127, times 63, eight of them. Q6_K:
    /// every value 63 (+31) or 0 (-32), scales alternating -128 and 127.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_K, 127)]
    [InlineData(GgmlType.Q4_K, -127)]
    [InlineData(GgmlType.Q6_K, 127)]
    [InlineData(GgmlType.Q6_K, -127)]
    public void ExtremeValuesAndScalesStayExact(GgmlType type, int activation)
    {
        if (!InterleavedGemm.HasQuadKernels) return;
        const int rows = 16, cols = 512;
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        foreach (int variant in new[] { 0, 1 })
        {
            var data = GC.AllocateArray<byte>(rows * 2 * blockBytes, pinned: true);
            for (int b = 0; b < rows * 2; b++) KQuantDotTests.FillExtremeBlock(type, variant, data.AsSpan(b * blockBytes, blockBytes));
            // Activations whose super-block scale is exactly 1: the largest |x| is 127.
            var x = GC.AllocateArray<float>(cols, pinned: true);
            Array.Fill(x, (float)activation);
            fixed (byte* p = data)
            {
                var plain = new WeightMatrix(p, type, rows, cols);
                using var weights = new PreparedWeights();
                var y = Run(weights.Prepare(plain), x, 0, 1, threads: 1);
                var values = new float[cols];
                for (int r = 0; r < rows; r++)
                {
                    plain.DequantizeRow(r, values);
                    double expected = values.Sum(v => (double)v * activation);
                    Assert.Equal(expected, y[r], 0);
                }
            }
        }
    }
}
