using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Tests.Quantization;

namespace SharpInfer.Kernels.Tests.Elementwise;

public class ElementwiseTests
{
    [Fact]
    public void SoftmaxSubtractsTheMaximumSoHugeLogitsStayFinite()
    {
        float[] v = [1000f, 999f, float.NegativeInfinity, 998f];
        Activations.SoftmaxInPlace(v);
        double z = 1 + Math.Exp(-1) + Math.Exp(-2);
        Assert.Equal(1 / z, v[0], 6);
        Assert.Equal(Math.Exp(-1) / z, v[1], 6);
        Assert.Equal(0f, v[2]);
        float[] masked = [float.NegativeInfinity, float.NegativeInfinity];
        Activations.SoftmaxInPlace(masked);
        Assert.Equal([0f, 0f], masked);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(257)]
    public void RmsNormMatchesFloat64(int n)
    {
        var x = QuantizationTests.RandomValues(n, n, 5f);
        var w = QuantizationTests.RandomValues(n, n + 1);
        var y = new float[n];
        Norms.RmsNorm(x, w, 1e-5f, y);
        double rms = Math.Sqrt(x.Sum(v => (double)v * v) / n + 1e-5);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - x[i] / rms * w[i]) <= 1e-5 * (1 + Math.Abs(x[i] / rms * w[i])));
    }

    [Fact]
    public void SiluAndMulMayOverwriteTheGate()
    {
        var gate = QuantizationTests.RandomValues(100, 1, 4f);
        var up = QuantizationTests.RandomValues(100, 2);
        var expected = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
        Activations.SiluAndMul(gate, up, gate);
        for (int i = 0; i < 100; i++) Assert.True(Math.Abs(gate[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i])));
    }

    [Theory]
    [InlineData(RopeStyle.Interleaved)]
    [InlineData(RopeStyle.NeoX)]
    public void RopeRotatesThePairsItsStyleNames(RopeStyle style)
    {
        int heads = 2, headDim = 16, rotary = 12, pos = 1234;
        var (x, y, _, _) = Rotate(new Rope(rotary, 10000, style), heads, headDim, pos, seed: 5);
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < rotary / 2; i++)
            {
                double theta = pos * Math.Pow(10000, -2.0 * i / rotary);
                int a = h * headDim + (style == RopeStyle.Interleaved ? 2 * i : i);
                int b = h * headDim + (style == RopeStyle.Interleaved ? 2 * i + 1 : i + rotary / 2);
                Assert.Equal(x[a] * Math.Cos(theta) - x[b] * Math.Sin(theta), y[a], 4);
                Assert.Equal(x[a] * Math.Sin(theta) + x[b] * Math.Cos(theta), y[b], 4);
            }
            for (int i = rotary; i < headDim; i++) Assert.Equal(x[h * headDim + i], y[h * headDim + i]); // not rotated
        }
    }

    /// <summary>
    /// The vector loops (rotary halves of 16 or more) give the scalar loop's bits: two float products and one add or
    /// subtract per value, no fused multiply-add. Both loops run when the rotary dim is not a multiple of 16
    /// (interleaved pairs) or its half not a multiple of 16 (NeoX halves); a 1024-dim rotation spreads cos/sin on the heap.
    /// </summary>
    [Theory]
    [InlineData(RopeStyle.Interleaved, 64, 64)]
    [InlineData(RopeStyle.Interleaved, 128, 128)]
    [InlineData(RopeStyle.Interleaved, 128, 48)]
    [InlineData(RopeStyle.Interleaved, 128, 40)]
    [InlineData(RopeStyle.Interleaved, 1024, 1024)]
    [InlineData(RopeStyle.NeoX, 64, 64)]
    [InlineData(RopeStyle.NeoX, 128, 128)]
    [InlineData(RopeStyle.NeoX, 128, 72)]
    [InlineData(RopeStyle.NeoX, 64, 34)]
    public void RopeVectorLoopsGiveTheScalarBits(RopeStyle style, int headDim, int rotary)
    {
        const int heads = 3, pos = 4321;
        var (x, y, cos, sin) = Rotate(new Rope(rotary, 500000, style), heads, headDim, pos, seed: 11);
        int changed = 0;
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < rotary / 2; i++)
            {
                int a = h * headDim + (style == RopeStyle.Interleaved ? 2 * i : i);
                int b = h * headDim + (style == RopeStyle.Interleaved ? 2 * i + 1 : i + rotary / 2);
                float xa = x[a], xb = x[b], c = cos[i], s = sin[i];
                float pa = xa * c, pb = xb * s, qa = xa * s, qb = xb * c; // each product rounded, as the scalar loop does
                Assert.Equal(pa - pb, y[a]);
                Assert.Equal(qa + qb, y[b]);
                if (y[a] != x[a]) changed++;
            }
            for (int i = rotary; i < headDim; i++) Assert.Equal(x[h * headDim + i], y[h * headDim + i]); // not rotated
        }
        Assert.True(changed > heads * rotary / 4, "the rotation left the values as they were");
    }

    /// <summary>Random heads, and a copy rotated by <paramref name="rope"/> at one position, with its cos/sin.</summary>
    private static (float[] X, float[] Y, float[] Cos, float[] Sin) Rotate(Rope rope, int heads, int headDim, int position, int seed)
    {
        var x = QuantizationTests.RandomValues(heads * headDim, seed);
        var y = (float[])x.Clone();
        var cos = new float[rope.RotaryDim / 2];
        var sin = new float[rope.RotaryDim / 2];
        rope.Angles(position, cos, sin);
        rope.Apply(y, heads, headDim, cos, sin);
        return (x, y, cos, sin);
    }

    [Fact]
    public void Llama3FactorsKeepShortWavelengthsAndDivideLongOnes()
    {
        var f = Rope.Llama3FrequencyFactors(128, 500000, 8, 1, 4, 8192);
        Assert.Equal(1f, f[0]);
        Assert.Equal(8f, f[^1]);
        Assert.Contains(f, v => v > 1 && v < 8);
    }
}
