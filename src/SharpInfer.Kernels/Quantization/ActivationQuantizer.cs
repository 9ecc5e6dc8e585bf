using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels.Quantization;

/// <summary>
/// Quantizes activations to Q8_0-style blocks (32 int8 values and one float scale each), the form the Q8_0/Q4_0
/// integer dot products consume, or to blocks of 256 for the K-quants (<see cref="QuantizeSuperBlocks"/>). Scales
/// stay float32 (not f16 as in a stored Q8_0 tensor): activations never hit the disk. q = round-to-even(x / d),
/// d = max|x| / 127. These functions are the definition that the references reuse.
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
        if (Avx512F.IsSupported)
        {
            Quantize512(x, default, scales, quants, sums);
            return;
        }
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
                float d = max / 127f, id = InverseScale(d);
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

    /// <summary>
    /// <see cref="Quantize"/> straight to int16 (the form the interleaved kernels broadcast in pairs), with the int8
    /// values and block sums only where a caller asks for them: one pass over the activations instead of quantizing,
    /// then widening, then summing. Same values as <see cref="Quantize"/>.
    /// </summary>
    /// <param name="widened">[n] the int8 values sign-extended to int16.</param>
    /// <param name="quants">[n] int8 values, or empty when not wanted.</param>
    /// <param name="sums">[n / 32] block sums, or empty when not wanted.</param>
    public static void QuantizeWidened(ReadOnlySpan<float> x, Span<short> widened, Span<float> scales, Span<sbyte> quants = default, Span<int> sums = default)
    {
        int blocks = x.Length / BlockSize;
        if (x.Length % BlockSize != 0 || widened.Length < x.Length || scales.Length < blocks || !quants.IsEmpty && quants.Length < x.Length || !sums.IsEmpty && sums.Length < blocks)
            throw new ArgumentException($"activation length {x.Length} must be a multiple of {BlockSize} with room for the outputs");
        if (Avx512F.IsSupported)
        {
            Quantize512(x, widened, scales, quants, sums);
            return;
        }
        Span<sbyte> q = stackalloc sbyte[BlockSize];
        for (int b = 0; b < blocks; b++)
        {
            QuantizeBlockScalar(x.Slice(b * BlockSize, BlockSize), q, out scales[b]);
            int s = 0;
            for (int j = 0; j < BlockSize; j++) { widened[b * BlockSize + j] = q[j]; s += q[j]; }
            if (!quants.IsEmpty) q.CopyTo(quants.Slice(b * BlockSize));
            if (!sums.IsEmpty) sums[b] = s;
        }
    }

    // Both forms with AVX-512: a block is two vectors, vcvtps2dq rounds to nearest even as MathF.Round does (finite
    // values within +-127, so no saturation), and vpmovdw / vpmovdb narrow exactly. Each output is written only when asked for.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quantize512(ReadOnlySpan<float> x, Span<short> widened, Span<float> scales, Span<sbyte> quants, Span<int> sums)
    {
        int blocks = x.Length / BlockSize;
        bool wantWidened = !widened.IsEmpty, wantQuants = !quants.IsEmpty, wantSums = !sums.IsEmpty;
        for (int b = 0; b < blocks; b++)
        {
            var (i0, i1) = QuantizeBlock512(in x[b * BlockSize], out scales[b]);
            if (wantWidened)
            {
                Avx512F.ConvertToVector256Int16(i0).StoreUnsafe(ref widened[b * BlockSize]);
                Avx512F.ConvertToVector256Int16(i1).StoreUnsafe(ref widened[b * BlockSize + 16]);
            }
            if (wantQuants)
            {
                Avx512F.ConvertToVector128SByte(i0).StoreUnsafe(ref quants[b * BlockSize]);
                Avx512F.ConvertToVector128SByte(i1).StoreUnsafe(ref quants[b * BlockSize + 16]);
            }
            if (wantSums) sums[b] = Vector512.Sum(i0 + i1);
        }
    }

    /// <summary>One block of 32 values with AVX-512: its scale d and its int8 values as two vectors of int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<int>, Vector512<int>) QuantizeBlock512(ref readonly float xs, out float d)
    {
        var v0 = Vector512.LoadUnsafe(in xs);
        var v1 = Vector512.LoadUnsafe(in xs, 16);
        var amax = Vector512.Max(Vector512.Abs(v0), Vector512.Abs(v1));
        float max = HorizontalMax(Vector256.Max(amax.GetLower(), amax.GetUpper()));
        d = max / 127f;
        var scale = Vector512.Create(InverseScale(d));
        return (Avx512F.ConvertToVector512Int32(v0 * scale, FloatRoundingMode.ToEven), Avx512F.ConvertToVector512Int32(v1 * scale, FloatRoundingMode.ToEven));
    }

    /// <summary>
    /// 1 / d, or 0 where that is not finite: d = 0 (an all-zero block) and d below 2^-128 (a block whose largest value
    /// is under ~3.7e-37), whose inverse overflows. Such a block quantizes to zeros on every path; otherwise x * inf
    /// would meet each path's own conversion of infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float InverseScale(float d)
    {
        float id = 1f / d;
        return float.IsFinite(id) ? id : 0f;
    }

    /// <summary>
    /// <see cref="Quantize"/> with each block's outputs written apart, for kernels that read several tokens' blocks side
    /// by side: block b's 32 int8 values at <paramref name="quants"/> + b * <paramref name="quantStride"/>, its scale at
    /// <paramref name="scales"/>[b * <paramref name="entryStride"/>] and minus the sum of its int8 values at
    /// <paramref name="negatedSums"/>[b * <paramref name="entryStride"/>]. The same values as <see cref="Quantize"/>.
    /// </summary>
    public static unsafe void QuantizeStrided(ReadOnlySpan<float> x, sbyte* quants, long quantStride, float* scales, int* negatedSums, long entryStride)
    {
        int blocks = x.Length / BlockSize;
        if (x.Length % BlockSize != 0) throw new ArgumentException($"activation length {x.Length} must be a multiple of {BlockSize}");
        if (!Avx512F.IsSupported)
        {
            Span<sbyte> q = stackalloc sbyte[BlockSize];
            Span<float> d = stackalloc float[1];
            Span<int> sum = stackalloc int[1];
            for (int b = 0; b < blocks; b++)
            {
                Quantize(x.Slice(b * BlockSize, BlockSize), q, d, sum);
                q.CopyTo(new Span<sbyte>(quants + b * quantStride, BlockSize));
                scales[b * entryStride] = d[0];
                negatedSums[b * entryStride] = -sum[0];
            }
            return;
        }
        for (int b = 0; b < blocks; b++)
        {
            var (i0, i1) = QuantizeBlock512(in x[b * BlockSize], out float d);
            sbyte* q = quants + b * quantStride;
            Avx512F.ConvertToVector128SByte(i0).Store(q);
            Avx512F.ConvertToVector128SByte(i1).Store(q + 16);
            scales[b * entryStride] = d;
            negatedSums[b * entryStride] = -Vector512.Sum(i0 + i1);
        }
    }

    /// <summary>The scalar definition of one block, of any length (same results as the vector paths).</summary>
    public static void QuantizeBlockScalar(ReadOnlySpan<float> x, Span<sbyte> q, out float scale)
    {
        float max = 0;
        foreach (float v in x) max = MathF.Max(max, MathF.Abs(v));
        float d = max / 127f, id = InverseScale(d);
        scale = d;
        for (int j = 0; j < x.Length; j++) q[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.ToEven);
    }

    /// <summary>Values per block of the super-block form (<see cref="QuantizeSuperBlocks"/>), a K-quant super-block.</summary>
    public const int SuperBlockSize = 256;

    /// <summary>The block length of the activations that the integer path of a weight type multiplies.</summary>
    public static int BlockSizeFor(GgmlType weightType) => weightType is GgmlType.Q4_K or GgmlType.Q6_K ? SuperBlockSize : BlockSize;

    /// <summary>
    /// The activations as the integer path of <paramref name="weightType"/> quantizes them (blocks of
    /// <see cref="BlockSizeFor"/>), with <paramref name="scales"/> one per block: the definition references reuse.
    /// </summary>
    public static void QuantizeFor(GgmlType weightType, ReadOnlySpan<float> x, Span<sbyte> quants, Span<float> scales)
    {
        if (BlockSizeFor(weightType) == SuperBlockSize) QuantizeSuperBlocks(x, quants, scales);
        else Quantize(x, quants, scales);
    }

    /// <summary>
    /// Activations for the K-quant kernels, as llama.cpp's Q8_K: blocks of 256 values with one float scale each
    /// (q = round-to-even(x / d), d = max|x| / 127, the rule of <see cref="Quantize"/>), so a whole Q4_K/Q6_K
    /// super-block sums in int32 before its one conversion to float.
    /// </summary>
    /// <param name="quants">[n] int8 values.</param>
    /// <param name="scales">[n / 256] block scales.</param>
    public static void QuantizeSuperBlocks(ReadOnlySpan<float> x, Span<sbyte> quants, Span<float> scales)
    {
        int blocks = x.Length / SuperBlockSize;
        if (x.Length % SuperBlockSize != 0 || quants.Length < x.Length || scales.Length < blocks)
            throw new ArgumentException($"activation length {x.Length} must be a multiple of {SuperBlockSize} with room for quants and scales");
        if (!Avx512F.IsSupported)
        {
            for (int b = 0; b < blocks; b++)
                QuantizeBlockScalar(x.Slice(b * SuperBlockSize, SuperBlockSize), quants.Slice(b * SuperBlockSize, SuperBlockSize), out scales[b]);
            return;
        }
        for (int b = 0; b < blocks; b++)
        {
            ref readonly float xs = ref x[b * SuperBlockSize];
            var amax = Vector512<float>.Zero;
            for (int i = 0; i < SuperBlockSize; i += 16) amax = Vector512.Max(amax, Vector512.Abs(Vector512.LoadUnsafe(in xs, (nuint)i)));
            float max = HorizontalMax(Vector256.Max(amax.GetLower(), amax.GetUpper()));
            float d = max / 127f, id = InverseScale(d);
            scales[b] = d;
            var scale = Vector512.Create(id);
            for (int i = 0; i < SuperBlockSize; i += 16)
                Avx512F.ConvertToVector128SByte(Avx512F.ConvertToVector512Int32(Vector512.LoadUnsafe(in xs, (nuint)i) * scale, FloatRoundingMode.ToEven))
                    .StoreUnsafe(ref quants[b * SuperBlockSize + i]);
        }
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
