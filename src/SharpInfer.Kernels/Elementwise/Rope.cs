using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Elementwise;

/// <summary>Which elements RoPE rotates together.</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]): llama.cpp's "normal" mode, used for llama and mistral GGUFs.</summary>
    Interleaved,
    /// <summary>The two halves (x[i], x[i + d/2]): GPT-NeoX mode, used for qwen2.</summary>
    NeoX,
}

/// <summary>
/// Rotary position embedding with a precomputed inverse-frequency table, so every scaling scheme
/// (linear, llama-3 frequency factors) is folded into the table once.
/// </summary>
public sealed class Rope
{
    private readonly double[] _inverseFrequency; // [rotaryDim / 2]
    public RopeStyle Style { get; }
    /// <summary>Leading dimensions of a head that are rotated; the rest pass through.</summary>
    public int RotaryDim { get; }
    /// <summary>Positions are divided by this (linear scaling).</summary>
    public double PositionScale { get; }

    /// <param name="frequencyFactors">Per-pair divisors of the frequency (llama-3.1's rope_freqs), or null.</param>
    public Rope(int rotaryDim, double freqBase, RopeStyle style, double positionScale = 1.0, ReadOnlySpan<float> frequencyFactors = default)
    {
        if (rotaryDim <= 0 || rotaryDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(rotaryDim), rotaryDim, "rotary dimension must be positive and even");
        RotaryDim = rotaryDim; Style = style; PositionScale = positionScale;
        _inverseFrequency = new double[rotaryDim / 2];
        for (int i = 0; i < rotaryDim / 2; i++)
        {
            double f = Math.Pow(freqBase, -2.0 * i / rotaryDim);
            if (!frequencyFactors.IsEmpty) f /= frequencyFactors[i];
            _inverseFrequency[i] = f;
        }
    }

    /// <summary>Inverse frequencies (radians per position) of each rotated pair.</summary>
    public ReadOnlySpan<double> InverseFrequency => _inverseFrequency;

    /// <summary>
    /// Fills cos/sin tables [rotaryDim/2] for one position. Angles are computed in float64 so that long positions
    /// do not lose precision.
    /// </summary>
    public void Angles(int position, Span<float> cos, Span<float> sin)
    {
        double p = position / PositionScale;
        for (int i = 0; i < _inverseFrequency.Length; i++)
        {
            double theta = p * _inverseFrequency[i];
            cos[i] = (float)Math.Cos(theta);
            sin[i] = (float)Math.Sin(theta);
        }
    }

    /// <summary>
    /// Rotates the heads of one token in place: x is [heads, headDim]. Sixteen values at a time where AVX-512 is
    /// there, with the same two products and one add or subtract per value as the scalar loop (no fused multiply-add,
    /// and x + (-y) is x - y exactly), so both give the same bits.
    /// </summary>
    public void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin) =>
        Apply(x, heads, default, 0, headDim, cos, sin);

    /// <summary>
    /// <see cref="Apply(Span{float}, int, int, ReadOnlySpan{float}, ReadOnlySpan{float})"/> for a token's query heads
    /// q [queryHeads, headDim] and key heads k [keyHeads, headDim], which share its angles: the interleaved style's
    /// spread cos/sin table is built once for both.
    /// </summary>
    public void Apply(Span<float> q, int queryHeads, Span<float> k, int keyHeads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = RotaryDim / 2;
        if (q.Length < queryHeads * headDim || k.Length < keyHeads * headDim || cos.Length < half || sin.Length < half || RotaryDim > headDim)
            throw new ArgumentException($"RoPE needs {queryHeads} + {keyHeads} x {headDim} values and {half} cos/sin values (rotary dim {RotaryDim})");
        bool vector = Vector512.IsHardwareAccelerated && half >= 16;
        if (Style == RopeStyle.Interleaved)
        {
            // cos and signed sin spread over the pair layout, shared by the token's heads: (cos_i, cos_i) and
            // (-sin_i, sin_i), so that out = x * cos + swapPairs(x) * sin.
            int wide = vector ? RotaryDim / 16 * 16 : 0;
            // On the stack up to 256 rotated values (every model here); a crafted rope dim gets the heap, not a stack overflow.
            Span<float> spread = wide == 0 ? default : wide <= 256 ? stackalloc float[2 * wide] : new float[2 * wide];
            for (int j = 0; j < wide; j += 2)
            {
                spread[j] = spread[j + 1] = cos[j / 2];
                spread[wide + j] = -sin[j / 2];
                spread[wide + j + 1] = sin[j / 2];
            }
            RotateInterleaved(q, queryHeads, headDim, half, wide, spread, cos, sin);
            RotateInterleaved(k, keyHeads, headDim, half, wide, spread, cos, sin);
        }
        else
        {
            int wide = vector ? half / 16 * 16 : 0;
            RotateHalves(q, queryHeads, headDim, half, wide, cos, sin);
            RotateHalves(k, keyHeads, headDim, half, wide, cos, sin);
        }
    }

    // Pairs (2i, 2i + 1): the first `wide` values of each head 16 at a time against the spread table, the rest scalar.
    private static void RotateInterleaved(Span<float> x, int heads, int headDim, int half, int wide, ReadOnlySpan<float> spread,
        ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        var swap = Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
        for (int h = 0; h < heads; h++)
        {
            var v = x.Slice(h * headDim, headDim);
            for (int j = 0; j < wide; j += 16)
            {
                var a = Vector512.Create<float>(v[j..]);
                var c = Vector512.Create<float>(spread[j..]);
                var s = Vector512.Create<float>(spread[(wide + j)..]);
                (a * c + Vector512.Shuffle(a, swap) * s).CopyTo(v[j..]);
            }
            for (int i = wide / 2; i < half; i++)
            {
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * cos[i] - b * sin[i];
                v[2 * i + 1] = a * sin[i] + b * cos[i];
            }
        }
    }

    // Pairs (i, i + half), NeoX style: the first `wide` pairs 16 at a time, the rest scalar.
    private static void RotateHalves(Span<float> x, int heads, int headDim, int half, int wide, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        for (int h = 0; h < heads; h++)
        {
            var v = x.Slice(h * headDim, headDim);
            for (int i = 0; i < wide; i += 16)
            {
                var a = Vector512.Create<float>(v[i..]);
                var b = Vector512.Create<float>(v[(i + half)..]);
                var c = Vector512.Create<float>(cos[i..]);
                var s = Vector512.Create<float>(sin[i..]);
                (a * c - b * s).CopyTo(v[i..]);
                (a * s + b * c).CopyTo(v[(i + half)..]);
            }
            for (int i = wide; i < half; i++)
            {
                float a = v[i], b = v[i + half];
                v[i] = a * cos[i] - b * sin[i];
                v[i + half] = a * sin[i] + b * cos[i];
            }
        }
    }

    /// <summary>
    /// llama-3.1's frequency factors, computed from the scaling metadata when the file has no rope_freqs tensor:
    /// long wavelengths are divided by factor, short ones kept, the band between interpolated.
    /// </summary>
    public static float[] Llama3FrequencyFactors(int rotaryDim, double freqBase, double factor, double lowFreqFactor, double highFreqFactor, double originalContext)
    {
        var factors = new float[rotaryDim / 2];
        double lowWavelen = originalContext / lowFreqFactor, highWavelen = originalContext / highFreqFactor;
        for (int i = 0; i < factors.Length; i++)
        {
            double freq = Math.Pow(freqBase, -2.0 * i / rotaryDim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) factors[i] = 1f;
            else if (wavelen > lowWavelen) factors[i] = (float)factor;
            else
            {
                double smooth = (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                factors[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
            }
        }
        return factors;
    }
}
