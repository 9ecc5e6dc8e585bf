using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Quantization;

/// <summary>
/// Quantizes activations to Q8_0-style blocks (32 int8 values and one float scale each), the form the integer dot
/// products consume. Scales stay float32 (not f16 as in a stored Q8_0 tensor): activations never hit the disk.
/// q = round-to-even(x / d), d = max|x| / 127. This function is the definition that the references reuse.
/// </summary>
public static class ActivationQuantizer
{
    public const int BlockSize = 32;

    /// <param name="x">[n] values, n a multiple of 32.</param>
    /// <param name="quants">[n] int8 values.</param>
    /// <param name="scales">[n / 32] block scales.</param>
    /// <param name="sums">[n / 32] sums of each block's int8 values, or empty when not wanted.</param>
    public static void Quantize(ReadOnlySpan<float> x, Span<sbyte> quants, Span<float> scales, Span<int> sums = default)
    {
        int blocks = x.Length / BlockSize;
        if (x.Length % BlockSize != 0 || quants.Length < x.Length || scales.Length < blocks)
            throw new ArgumentException($"activation length {x.Length} must be a multiple of {BlockSize} with room for quants and scales");
        if (Vector256.IsHardwareAccelerated)
        {
            for (int b = 0; b < blocks; b++)
            {
                ref readonly float xs = ref x[b * BlockSize];
                var v0 = Vector256.LoadUnsafe(in xs);
                var v1 = Vector256.LoadUnsafe(in xs, 8);
                var v2 = Vector256.LoadUnsafe(in xs, 16);
                var v3 = Vector256.LoadUnsafe(in xs, 24);
                var amax = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
                float max = HorizontalMax(amax);
                float d = max / 127f, id = d != 0 ? 1f / d : 0f;
                scales[b] = d;
                var scale = Vector256.Create(id);
                var i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * scale));
                var i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * scale));
                var i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * scale));
                var i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * scale));
                var q = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
                q.StoreUnsafe(ref quants[b * BlockSize]);
                if (!sums.IsEmpty) sums[b] = Vector256.Sum((i0 + i1) + (i2 + i3));
            }
            return;
        }
        for (int b = 0; b < blocks; b++)
        {
            var q = quants.Slice(b * BlockSize, BlockSize);
            QuantizeBlockScalar(x.Slice(b * BlockSize, BlockSize), q, out scales[b]);
            if (!sums.IsEmpty) { int s = 0; foreach (sbyte v in q) s += v; sums[b] = s; }
        }
    }

    /// <summary>The scalar definition of one block (same results as the vector path).</summary>
    public static void QuantizeBlockScalar(ReadOnlySpan<float> x, Span<sbyte> q, out float scale)
    {
        float max = 0;
        foreach (float v in x) max = MathF.Max(max, MathF.Abs(v));
        float d = max / 127f, id = d != 0 ? 1f / d : 0f;
        scale = d;
        for (int j = 0; j < BlockSize; j++) q[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.ToEven);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }
}
