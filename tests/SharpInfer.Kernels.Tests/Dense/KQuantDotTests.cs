using System.Runtime.Intrinsics;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Tests.Quantization;

namespace SharpInfer.Kernels.Tests.Dense;

public unsafe class KQuantDotTests
{
    /// <summary>
    /// Super-blocks of random bytes (every 4/6-bit value, every packed scale and min, negative Q6_K scales down to
    /// -128) with finite f16 block scales; quantized ones from <see cref="Quantize.Row"/> are covered by the MatMul tests.
    /// </summary>
    private static byte[] RandomRows(GgmlType type, int rows, int superBlocks, int seed)
    {
        var random = new Random(seed);
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        var data = new byte[rows * superBlocks * blockBytes];
        random.NextBytes(data);
        for (int b = 0; b < rows * superBlocks; b++)
        {
            var block = data.AsSpan(b * blockBytes, blockBytes);
            ushort Half() => BitConverter.HalfToUInt16Bits((Half)(random.NextSingle() * 0.02f + 1e-4f));
            if (type == GgmlType.Q4_K)
            {
                BitConverter.TryWriteBytes(block, Half());
                BitConverter.TryWriteBytes(block[2..], Half());
            }
            else BitConverter.TryWriteBytes(block[208..], Half());
        }
        return data;
    }

    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void KernelsMatchTheDefinitionAndAFloat64ReferenceOfTheSameQuantization(GgmlType type)
    {
        if (!KQuantDot.HasKernels) return; // the K types keep the float path without AVX-512BW
        const int tokens = 7; // the four-token kernel, then the three-token one
        for (int superBlocks = 1; superBlocks <= 9; superBlocks++)
        {
            int n = superBlocks * KQuantDot.SuperBlock, rows = 4, rowBytes = (int)GgmlTypeInfo.RowBytes(type, n);
            var weights = RandomRows(type, rows, superBlocks, superBlocks);
            var x = QuantizationTests.RandomValues(tokens * n, 100 + superBlocks, 3f);
            x[5] = 30f; // a super-block with one large value: its scale is set by it
            var xq = new sbyte[tokens * n];
            var xd = new float[tokens * superBlocks];
            int ps = KQuantDot.PreparedShorts(n);
            var prepared = new short[tokens * ps];
            for (int t = 0; t < tokens; t++)
            {
                ActivationQuantizer.QuantizeSuperBlocks(x.AsSpan(t * n, n), xq.AsSpan(t * n, n), xd.AsSpan(t * superBlocks, superBlocks));
                KQuantDot.Prepare(xq.AsSpan(t * n, n), prepared.AsSpan(t * ps, ps));
            }
            var rowValues = new float[n];
            var batched = new float[tokens * rows];
            fixed (byte* w = weights) fixed (sbyte* q = xq) fixed (float* d = xd, y = batched) fixed (short* p = prepared)
            {
                byte* repacked = type == GgmlType.Q4_K ? KQuantDot.Repack(new WeightMatrix(w, type, rows, n)) : null;
                try
                {
                    for (int r = 0; r < rows; r++)
                    {
                        byte* row = w + r * rowBytes;
                        KQuantDot.Dot(type, row, q, d, p, n, tokens, y + r, rows);
                        Dequantize.Row(type, weights.AsSpan(r * rowBytes, rowBytes), rowValues);
                        for (int t = 0; t < tokens; t++)
                        {
                            double reference = 0, magnitude = 0;
                            for (int i = 0; i < n; i++)
                            {
                                double term = (double)rowValues[i] * (xq[t * n + i] * xd[t * superBlocks + i / 256]);
                                reference += term;
                                magnitude += Math.Abs(term);
                            }
                            float actual = batched[t * rows + r];
                            // Rows of random values cancel: the bound is relative to the sum of |terms|, which a float
                            // accumulation's error follows.
                            Assert.True(Math.Abs(actual - reference) <= 1e-5 * magnitude, $"{type} {superBlocks} super-blocks row {r} token {t}: {actual} vs {reference} (sum |terms| {magnitude})");
                            float definition = KQuantDot.Scalar(type, row, q + t * n, d + t * superBlocks, n);
                            Assert.True(Math.Abs(actual - definition) <= 1e-5 * magnitude, $"{type}: kernel {actual} vs definition {definition}");
                            // One token alone gives the same bits as inside the batch.
                            float alone;
                            KQuantDot.Dot(type, row, q + t * n, d + t * superBlocks, p + t * ps, n, 1, &alone, 1);
                            Assert.Equal(actual, alone);
                            if (repacked != null)
                            {
                                // The repacked copy holds the same values: the same bits.
                                float fromCopy;
                                KQuantDot.Dot(type, row, q + t * n, d + t * superBlocks, p + t * ps, n, 1, &fromCopy, 1, repacked + (long)r * superBlocks * KQuantDot.RepackedQ4_KBytes);
                                Assert.Equal(actual, fromCopy);
                            }
                        }
                    }
                }
                finally { BlockScales.Free(repacked); }
            }
        }
    }

    [Fact]
    public void PrepareComputesTheBlockSumsAndThePairSumsTimes32()
    {
        const int n = 512;
        var x = QuantizationTests.RandomValues(n, 7, 2f);
        var xq = new sbyte[n];
        var xd = new float[n / 256];
        ActivationQuantizer.QuantizeSuperBlocks(x, xq, xd);
        var prepared = new short[KQuantDot.PreparedShorts(n)];
        KQuantDot.Prepare(xq, prepared);
        for (int b = 0; b < n / 32; b++)
        {
            int sum = 0;
            for (int i = 0; i < 32; i++) sum += xq[32 * b + i];
            Assert.Equal(sum, prepared[b]);
        }
        for (int i = 0; i < n / 2; i++) Assert.Equal(32 * (xq[2 * i] + xq[2 * i + 1]), prepared[n / 32 + i]);
        Assert.Throws<ArgumentException>(() => KQuantDot.Prepare(xq.AsSpan(0, 96), prepared)); // not whole super-blocks
    }

    [Fact]
    public void SuperBlockQuantizationMatchesTheScalarDefinition()
    {
        const int n = 1024;
        var x = QuantizationTests.RandomValues(n, 9, 5f);
        for (int i = 512; i < 768; i++) x[i] = 0; // an all-zero super-block: scale 0, values 0
        for (int i = 768; i < 1024; i++) x[i] = (i % 7) - 3;
        x[768] = 127; x[769] = 2.5f; x[770] = -3.5f; x[771] = 0.5f; // d = 1: halves round to even
        var q = new sbyte[n];
        var d = new float[n / 256];
        ActivationQuantizer.QuantizeSuperBlocks(x, q, d);
        var expected = new sbyte[256];
        for (int b = 0; b < n / 256; b++)
        {
            ActivationQuantizer.QuantizeBlockScalar(x.AsSpan(256 * b, 256), expected, out float scale);
            Assert.Equal(scale, d[b]);
            Assert.Equal(expected, q.AsSpan(256 * b, 256).ToArray());
        }
        Assert.Equal(0f, d[2]);
        Assert.Equal(new sbyte[] { 127, 2, -4, 0 }, q.AsSpan(768, 4).ToArray());
        Assert.Equal(127, q.AsSpan(0, 256).ToArray().Max(v => Math.Abs((int)v))); // the largest value maps to +-127
    }
}

public unsafe class KQuantScaleTests
{
    [Fact]
    public void VectorUnpackOfQ4_KScalesAndMinsMatchesTheFormat()
    {
        if (!KQuantDot.HasKernels) return;
        var random = new Random(5);
        var packed = new byte[16];
        for (int trial = 0; trial < 1000; trial++)
        {
            random.NextBytes(packed);
            Vector128<byte> unpacked;
            fixed (byte* p = packed) unpacked = KQuantDot.UnpackScalesMinsK4(p);
            for (int j = 0; j < 8; j++)
            {
                var (scale, min) = Dequantize.ScaleMinK4(j, packed.AsSpan(0, 12));
                Assert.Equal(scale, unpacked.GetElement(j));
                Assert.Equal(min, unpacked.GetElement(8 + j));
            }
        }
    }
}
