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
        const int tokens = 8;
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
            var batched = new float[tokens];
            fixed (byte* w = weights) fixed (sbyte* q = xq) fixed (float* d = xd, y = batched) fixed (short* p = prepared)
            {
                byte* repacked = type == GgmlType.Q4_K ? KQuantDot.Repack(new WeightMatrix(w, type, rows, n)) : null;
                try
                {
                    for (int r = 0; r < rows; r++)
                    {
                        byte* row = w + r * rowBytes;
                        byte* copy = repacked == null ? null : repacked + (long)r * superBlocks * KQuantDot.RepackedQ4_KBytes;
                        Dequantize.Row(type, weights.AsSpan(r * rowBytes, rowBytes), rowValues);
                        var alone = new float[tokens];
                        for (int t = 0; t < tokens; t++)
                        {
                            KQuantDot.Dot(type, row, q + t * n, d + t * superBlocks, p + t * ps, n, 1, &y[t], 1);
                            alone[t] = y[t];
                            double reference = 0, magnitude = 0;
                            for (int i = 0; i < n; i++)
                            {
                                double term = (double)rowValues[i] * (xq[t * n + i] * xd[t * superBlocks + i / 256]);
                                reference += term;
                                magnitude += Math.Abs(term);
                            }
                            // Rows of random values cancel: the bound is relative to the sum of |terms|, which a float
                            // accumulation's error follows.
                            Assert.True(Math.Abs(alone[t] - reference) <= 1e-5 * magnitude, $"{type} {superBlocks} super-blocks row {r} token {t}: {alone[t]} vs {reference} (sum |terms| {magnitude})");
                            float definition = KQuantDot.Scalar(type, row, q + t * n, d + t * superBlocks, n);
                            Assert.True(Math.Abs(alone[t] - definition) <= 1e-5 * magnitude, $"{type}: kernel {alone[t]} vs definition {definition}");
                        }
                        // Any number of tokens in one call (the 4-token kernel, then 3, 2 or 1), from the stored row and
                        // from the repacked copy (the same values), gives each token the bits it gets alone.
                        for (int count = 1; count <= tokens; count++)
                            foreach (bool useCopy in copy == null ? new[] { false } : new[] { false, true })
                            {
                                Array.Clear(batched);
                                KQuantDot.Dot(type, row, q, d, p, n, count, y, 1, useCopy ? copy : null);
                                for (int t = 0; t < count; t++) Assert.True(alone[t] == batched[t], $"{type} row {r}: token {t} of {count} (copy {useCopy}) {batched[t]} != {alone[t]} alone");
                            }
                    }
                }
                finally { BlockScales.Free(repacked); }
            }
        }
    }

    /// <summary>
    /// The extremes of the integer intermediates: every weight value at its largest (Q4_K 15 with scales and mins 63;
    /// Q6_K 63 and 0, i.e. +31 and -32 after the offset, with scales -128 and 127) against activations of +-127. The
    /// pair sums of maddubs must not saturate and the int32 sums must convert to float exactly.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_K, 127)]
    [InlineData(GgmlType.Q4_K, -127)]
    [InlineData(GgmlType.Q6_K, 127)]
    [InlineData(GgmlType.Q6_K, -127)]
    public void ExtremeValuesAndScalesStayExact(GgmlType type, int activation)
    {
        if (!KQuantDot.HasKernels) return;
        const int n = 512, superBlocks = n / 256;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, n);
        foreach (int variant in new[] { 0, 1 })
        {
            var row = new byte[rowBytes];
            for (int s = 0; s < superBlocks; s++)
            {
                FillExtremeBlock(type, variant, row.AsSpan(s * GgmlTypeInfo.BlockBytes(type), GgmlTypeInfo.BlockBytes(type)));
            }
            var xq = Enumerable.Repeat((sbyte)activation, n).ToArray();
            var xd = new[] { 1f, 1f };
            var prepared = new short[KQuantDot.PreparedShorts(n)];
            KQuantDot.Prepare(xq, prepared);
            float actual, fromCopy = 0;
            fixed (byte* w = row) fixed (sbyte* q = xq) fixed (float* d = xd) fixed (short* p = prepared)
            {
                KQuantDot.Dot(type, w, q, d, p, n, 1, &actual, 1);
                float definition = KQuantDot.Scalar(type, w, q, d, n);
                Assert.Equal(definition, actual); // whole numbers far below 2^24: exact on every path
                if (type == GgmlType.Q4_K)
                {
                    byte* copy = KQuantDot.Repack(new WeightMatrix(w, type, 1, n));
                    try { KQuantDot.Dot(type, w, q, d, p, n, 1, &fromCopy, 1, copy); }
                    finally { BlockScales.Free(copy); }
                    Assert.Equal(actual, fromCopy);
                }
            }
            // The dequantized row against the same activations, in float64.
            var values = new float[n];
            Dequantize.Row(type, row, values);
            double expected = values.Sum(v => (double)v * activation);
            Assert.Equal(expected, actual, 0);
        }
    }

    /// <summary>
    /// A super-block at the int32 sums' extremes. Q4_K: d 1, dmin 0.5, every 6-bit scale and min 63, every nibble 15
    /// (variant 0) or 15 and 0 (1). Q6_K: d 1, every value 63 (+31, variant 0) or 0 (-32), scales alternating -128 and 127.
    /// </summary>
    internal static void FillExtremeBlock(GgmlType type, int variant, Span<byte> block)
    {
        if (type == GgmlType.Q4_K)
        {
            BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)1f));
            BitConverter.TryWriteBytes(block[2..], BitConverter.HalfToUInt16Bits((Half)0.5f));
            block.Slice(4, 12).Fill(0xFF);
            block.Slice(16, 128).Fill(variant == 0 ? (byte)0xFF : (byte)0x0F);
        }
        else
        {
            block[..192].Fill(variant == 0 ? (byte)0xFF : (byte)0x00);
            for (int i = 0; i < 16; i++) block[192 + i] = unchecked((byte)(sbyte)(i % 2 == 0 ? -128 : 127));
            BitConverter.TryWriteBytes(block[208..], BitConverter.HalfToUInt16Bits((Half)1f));
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
