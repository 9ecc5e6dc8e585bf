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
        const int tokens = 3;
        for (int superBlocks = 1; superBlocks <= 9; superBlocks++)
        {
            int n = superBlocks * KQuantDot.SuperBlock, rows = 4, rowBytes = (int)GgmlTypeInfo.RowBytes(type, n);
            var weights = RandomRows(type, rows, superBlocks, superBlocks);
            var x = QuantizationTests.RandomValues(tokens * n, 100 + superBlocks, 3f);
            x[5] = 1e4f; // one block dominated by a single value: most of its int8 values round to 0
            var xq = new sbyte[tokens * n];
            var xd = new float[tokens * n / 32];
            var xs = new int[tokens * n / 32];
            int pf = KQuantDot.PreparedFloats(n);
            var prepared = new float[tokens * pf];
            for (int t = 0; t < tokens; t++)
            {
                ActivationQuantizer.Quantize(x.AsSpan(t * n, n), xq.AsSpan(t * n, n), xd.AsSpan(t * n / 32, n / 32), xs.AsSpan(t * n / 32, n / 32));
                KQuantDot.Prepare(xq.AsSpan(t * n, n), xd.AsSpan(t * n / 32, n / 32), xs.AsSpan(t * n / 32, n / 32), prepared.AsSpan(t * pf, pf));
            }
            var rowValues = new float[n];
            var batched = new float[tokens * rows];
            fixed (byte* w = weights) fixed (sbyte* q = xq) fixed (float* d = xd, p = prepared, y = batched)
            {
                for (int r = 0; r < rows; r++)
                {
                    byte* row = w + r * rowBytes;
                    KQuantDot.Dot(type, row, q, p, n, tokens, y + r, rows);
                    Dequantize.Row(type, weights.AsSpan(r * rowBytes, rowBytes), rowValues);
                    for (int t = 0; t < tokens; t++)
                    {
                        double reference = 0, magnitude = 0;
                        for (int i = 0; i < n; i++)
                        {
                            double term = (double)rowValues[i] * (xq[t * n + i] * xd[(t * n + i) / 32]);
                            reference += term;
                            magnitude += Math.Abs(term);
                        }
                        float actual = batched[t * rows + r];
                        // Rows of random values cancel: the bound is relative to the sum of |terms|, which a float
                        // accumulation's error follows.
                        Assert.True(Math.Abs(actual - reference) <= 1e-5 * magnitude, $"{type} {superBlocks} super-blocks row {r} token {t}: {actual} vs {reference} (sum |terms| {magnitude})");
                        float definition = KQuantDot.Scalar(type, row, q + t * n, d + t * n / 32, n);
                        Assert.True(Math.Abs(actual - definition) <= 1e-5 * magnitude, $"{type}: kernel {actual} vs definition {definition}");
                        // One token alone gives the same bits as inside the batch.
                        float alone;
                        KQuantDot.Dot(type, row, q + t * n, p + t * pf, n, 1, &alone, 1);
                        Assert.Equal(actual, alone);
                    }
                }
            }
        }
    }

    [Fact]
    public void PrepareComputesTheSpreadScalesAndSumsOfEachBlock()
    {
        const int n = 512;
        var x = QuantizationTests.RandomValues(n, 7, 2f);
        var xq = new sbyte[n];
        var xd = new float[n / 32];
        var xs = new int[n / 32];
        ActivationQuantizer.Quantize(x, xq, xd, xs);
        var prepared = new float[KQuantDot.PreparedFloats(n)];
        KQuantDot.Prepare(xq, xd, xs, prepared);
        for (int b = 0; b < n / 32; b++)
        {
            for (int i = 0; i < 8; i++) Assert.Equal(xd[b], prepared[8 * b + i]);
            Assert.Equal(xd[b] * xs[b], prepared[n / 4 + b]);
            for (int half = 0; half < 2; half++)
            {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += xq[32 * b + 16 * half + i];
                Assert.Equal(32 * xd[b] * sum, prepared[n / 4 + n / 32 + 2 * b + half]);
            }
        }
        Assert.Throws<ArgumentException>(() => KQuantDot.Prepare(xq.AsSpan(0, 96), xd, xs, prepared)); // not whole super-blocks
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
