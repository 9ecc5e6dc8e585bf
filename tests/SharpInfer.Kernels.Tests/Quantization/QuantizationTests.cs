using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Tests.Quantization;

public class QuantizationTests
{
    internal static float[] RandomValues(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return v;
    }

    [Theory]
    [InlineData(GgmlType.F32, 0.0)]
    [InlineData(GgmlType.F16, 1e-3)]
    [InlineData(GgmlType.BF16, 8e-3)]
    [InlineData(GgmlType.Q8_0, 8e-3)]
    [InlineData(GgmlType.Q4_0, 0.15)]
    [InlineData(GgmlType.Q4_K, 0.15)]
    [InlineData(GgmlType.Q6_K, 0.05)]
    public void RoundTripErrorIsWithinTheTypePrecision(GgmlType type, double maxRelativeError)
    {
        var x = RandomValues(1024, 7, 3f);
        var encoded = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        Quantize.Row(type, x, encoded);
        var y = new float[x.Length];
        Dequantize.Row(type, encoded, y);
        double maxError = x.Zip(y, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxError <= maxRelativeError * 3f, $"{type}: max error {maxError}");
        if (type == GgmlType.F32) Assert.Equal(x, y);
        // A lossy type must actually lose something, or the test is not exercising it.
        if (type != GgmlType.F32) Assert.True(maxError > 0);
    }

    [Fact]
    public void Q8_0BlockLayoutIsScaleThenSignedBytes()
    {
        var block = new byte[34];
        BitConverter.TryWriteBytes(block.AsSpan(0, 2), BitConverter.HalfToUInt16Bits((Half)0.5f));
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)(j - 16);
        var y = new float[32];
        Dequantize.Row(GgmlType.Q8_0, block, y);
        for (int j = 0; j < 32; j++) Assert.Equal(0.5f * (j - 16), y[j]);
    }

    [Fact]
    public void Q4_0LowNibblesAreTheFirstHalf()
    {
        var block = new byte[18];
        BitConverter.TryWriteBytes(block.AsSpan(0, 2), BitConverter.HalfToUInt16Bits((Half)2f));
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | ((15 - j) << 4));
        var y = new float[32];
        Dequantize.Row(GgmlType.Q4_0, block, y);
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal(2f * (j - 8), y[j]);
            Assert.Equal(2f * (15 - j - 8), y[j + 16]);
        }
    }

    [Fact]
    public void Q4_KScalesAndMinsUnpackAsGgmlPacksThem()
    {
        // Sub-block j < 4: scale = scales[j] & 63, min = scales[j+4] & 63;
        // j >= 4: low 4 bits from scales[j+4], high 2 bits from the top bits of scales[j-4] / scales[j].
        var scales = new byte[12];
        int[] sc = [1, 2, 3, 4, 60, 61, 62, 63];
        int[] mn = [5, 6, 7, 8, 40, 41, 42, 43];
        for (int j = 0; j < 4; j++) { scales[j] = (byte)sc[j]; scales[j + 4] = (byte)mn[j]; }
        for (int j = 4; j < 8; j++)
        {
            scales[j + 4] = (byte)((sc[j] & 15) | ((mn[j] & 15) << 4));
            scales[j - 4] |= (byte)((sc[j] >> 4) << 6);
            scales[j] |= (byte)((mn[j] >> 4) << 6);
        }
        for (int j = 0; j < 8; j++) Assert.Equal((sc[j], mn[j]), Dequantize.ScaleMinK4(j, scales));
    }

    [Fact]
    public void Q6_KDecodesAHandBuiltBlock()
    {
        // All quants 33 (q - 32 = 1), scales i -> i + 1, d = 0.25: value i = 0.25 * (i / 16 + 1).
        var block = new byte[210];
        for (int i = 0; i < 128; i++) block[i] = 0x11;            // low nibbles 1
        for (int i = 0; i < 64; i++) block[128 + i] = 0b10101010; // high bits 2 -> q = 1 | 2 << 4 = 33
        for (int s = 0; s < 16; s++) block[192 + s] = (byte)(s + 1);
        BitConverter.TryWriteBytes(block.AsSpan(208, 2), BitConverter.HalfToUInt16Bits((Half)0.25f));
        var y = new float[256];
        Dequantize.Row(GgmlType.Q6_K, block, y);
        for (int i = 0; i < 256; i++) Assert.Equal(0.25f * (i / 16 + 1), y[i]);
    }

    [Fact]
    public void BF16RoundsToNearestEven()
    {
        Assert.Equal((ushort)0x3F80, Quantize.ToBF16(1f));
        Assert.Equal((ushort)0x3F80, Quantize.ToBF16(BitConverter.Int32BitsToSingle(0x3F808000))); // tie, even stays
        Assert.Equal((ushort)0x3F82, Quantize.ToBF16(BitConverter.Int32BitsToSingle(0x3F818000))); // tie, odd rounds up
        Assert.True(float.IsNaN(Dequantize.BF16ToSingle(Quantize.ToBF16(float.NaN))));
    }
}

public class HalfConvertTests
{
    [Fact]
    public void FiniteFormAgreesWithTheRuntimeOnEveryFiniteHalf()
    {
        var lanes = new uint[16];
        for (int first = 0; first <= ushort.MaxValue; first += 16)
        {
            for (int i = 0; i < 16; i++) lanes[i] = (uint)(first + i);
            var wide = HalfConvert.ToSingleFinite(System.Runtime.Intrinsics.Vector512.Create(lanes));
            var narrow = HalfConvert.ToSingleFinite(System.Runtime.Intrinsics.Vector256.Create(lanes.AsSpan(8, 8)));
            for (int i = 0; i < 16; i++)
            {
                ushort bits = (ushort)(first + i);
                if ((bits & 0x7c00) == 0x7c00) continue; // inf and NaN are the callers' to route elsewhere
                uint expected = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf(bits));
                Assert.True(expected == BitConverter.SingleToUInt32Bits(wide[i]), $"0x{bits:X4}");
                if (i >= 8) Assert.True(expected == BitConverter.SingleToUInt32Bits(narrow[i - 8]), $"0x{bits:X4} (8 lanes)");
            }
        }
    }

    [Fact]
    public void AgreesWithTheRuntimeOnEveryHalf()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = HalfConvert.ToSingle((ushort)bits);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{bits:X4}");
            else Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual));
        }
    }
}
