using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Dot products of one stored weight row with a float32 vector, without dequantizing the row into memory first.
/// Vector256 paths (AVX2 and AVX-512 machines both run them) with a scalar fallback; the reduction order of a
/// row depends only on the row length, never on which thread or batch computes it.
/// </summary>
public static unsafe class RowDot
{
    public static float Dot(GgmlType type, byte* row, float* x, int n) => type switch
    {
        GgmlType.F32 => TensorPrimitives.Dot(new ReadOnlySpan<float>(row, n), new ReadOnlySpan<float>(x, n)),
        GgmlType.F16 => F16(row, x, n),
        GgmlType.BF16 => BF16(row, x, n),
        GgmlType.Q8_0 => Q8_0(row, x, n),
        GgmlType.Q4_0 => Q4_0(row, x, n),
        _ => ViaDequantize(type, row, x, n),
    };

    /// <summary>
    /// F16 weights: the conversion, not memory, bounds this loop (.NET exposes no F16C), so it converts with the
    /// four-instruction finite form and tracks the largest magnitude seen; a row holding an inf or NaN (never in a
    /// sane model) is recomputed with the exact conversion. Both conversions are exact on finite halves, so the result
    /// does not depend on which ran.
    /// </summary>
    private static float F16(byte* row, float* x, int n)
    {
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            ushort* w = (ushort*)row;
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            var magnitude = Vector512.Create((ushort)0x7fff);
            var largest = Vector512<ushort>.Zero;
            int i = 0;
            for (; i + 32 <= n; i += 32)
            {
                var raw = Vector512.Load(w + i);
                largest = Vector512.Max(largest, raw & magnitude);
                var (lo, hi) = Vector512.Widen(raw);
                acc0 = Vector512.FusedMultiplyAdd(HalfConvert.ToSingleFinite(lo), Vector512.Load(x + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(HalfConvert.ToSingleFinite(hi), Vector512.Load(x + i + 16), acc1);
            }
            if (!Vector512.GreaterThanOrEqualAny(largest, Vector512.Create((ushort)0x7c00)))
            {
                float sum = Vector512.Sum(acc0 + acc1);
                for (; i < n; i++) sum += HalfConvert.ToSingle(w[i]) * x[i];
                return sum;
            }
        }
        return F16Exact(row, x, n);
    }

    /// <summary>2^56: prepared F16 activations are scaled by it (see <see cref="PrepareF16"/>).</summary>
    private const float TwoTo56 = 72057594037927936f;

    /// <summary>Whether <see cref="F16Prepared"/> runs here (AVX-512).</summary>
    public static bool HasPreparedF16 => Vector512.IsHardwareAccelerated;

    /// <summary>
    /// Activations for <see cref="F16Prepared"/>: in each 32-value chunk the even-indexed values come first, then the
    /// odd ones, all times 2^56; the tail after the last whole chunk is copied as is. False (nothing usable written)
    /// when some |x| reaches 2^70, where the scaled value could overflow: the caller then takes the plain dot.
    /// </summary>
    public static bool PrepareF16(float* x, float* prepared, int n)
    {
        float largest = TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(x, n));
        if (!(largest < 1.1805916e21f)) return false; // also false for NaN
        int whole = n / 32 * 32, c = 0;
        if (Avx512F.IsSupported)
        {
            // Two-source permutes pick the even and the odd values of a chunk: 6 instructions instead of 64 scalar ones.
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var odds = evens + Vector512<int>.One;
            var scale = Vector512.Create(TwoTo56);
            for (; c < whole; c += 32)
            {
                var low = Vector512.Load(x + c);
                var high = Vector512.Load(x + c + 16);
                (Avx512F.PermuteVar16x32x2(low, evens, high) * scale).Store(prepared + c);
                (Avx512F.PermuteVar16x32x2(low, odds, high) * scale).Store(prepared + c + 16);
            }
        }
        for (; c < whole; c += 32)
            for (int j = 0; j < 16; j++)
            {
                prepared[c + j] = x[c + 2 * j] * TwoTo56;
                prepared[c + 16 + j] = x[c + 2 * j + 1] * TwoTo56;
            }
        for (int i = whole; i < n; i++) prepared[i] = x[i];
        return true;
    }

    /// <summary>
    /// F16 row times prepared activations (<see cref="PrepareF16"/>). Each 32-bit lane holds two halves: the high one
    /// is already in float position after an arithmetic shift and a mask, the low one after one more shift, so a
    /// chunk of 32 halves costs five integer instructions and two FMAs (and two more to watch for inf/NaN), with no
    /// widening and no rebiasing multiply: the 2^112 rebias is split between the prepared activations (2^56) and the
    /// final sum (2^56). Every product and partial sum is exactly 2^-56 times what the same loop over converted halves
    /// and unscaled activations gives (all stay normal for results above ~1e-21 in magnitude), so the scaling costs
    /// no precision. A row holding inf or NaN is recomputed with the exact conversion.
    /// </summary>
    public static float F16Prepared(byte* row, float* prepared, float* x, int n)
    {
        int whole = n / 32 * 32;
        if (!PreparedChunks(row, prepared, whole, out float sum)) return F16Exact(row, x, n);
        ushort* h = (ushort*)row;
        for (int i = whole; i < n; i++) sum += HalfConvert.ToSingle(h[i]) * prepared[i];
        return sum;
    }

    /// <summary>
    /// The chunk loop of <see cref="F16Prepared"/> over <paramref name="whole"/> (a multiple of 32) columns, its sum
    /// unscaled; false when a half is inf or NaN (the finite conversion would be wrong).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool PreparedChunks(byte* row, float* prepared, int whole, out float sum)
    {
        uint* w = (uint*)row;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var magnitude = Vector512.Create(0x7fff7fffu).AsUInt16();
        var largest = Vector512<ushort>.Zero;
        var keep = Vector512.Create(unchecked((int)0x8FFFE000));
        for (int i = 0; i < whole; i += 32)
        {
            var raw = Vector512.Load(w + i / 2).AsInt32();
            largest = Vector512.Max(largest, raw.AsUInt16() & magnitude);
            var even = Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(raw, 16), 3) & keep;
            var odd = Vector512.ShiftRightArithmetic(raw, 3) & keep;
            acc0 = Vector512.FusedMultiplyAdd(even.AsSingle(), Vector512.Load(prepared + i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(odd.AsSingle(), Vector512.Load(prepared + i + 16), acc1);
        }
        sum = Vector512.Sum(acc0 + acc1) * TwoTo56;
        return !Vector512.GreaterThanOrEqualAny(largest, Vector512.Create((ushort)0x7c00));
    }

    /// <summary>Columns of each block of a column-blocked F16 copy for rows of <paramref name="columns"/>, or 0 for none.</summary>
    public static int F16BlockColumns(int columns)
    {
        if (!HasPreparedF16 || columns < 4096 || columns % 32 != 0) return 0;
        for (int blocks = 2; blocks <= columns / 32; blocks++)
            if (columns % blocks == 0 && columns / blocks % 32 == 0 && columns / blocks <= 3072) return columns / blocks;
        return 0;
    }

    /// <summary>
    /// A column-blocked copy of an F16 matrix (native memory, free with <see cref="BlockScales.Free"/>): block b holds columns
    /// [b * blockColumns, (b + 1) * blockColumns) of every row, rows one after another. Reading one block for a run of
    /// rows is one contiguous stream whose activations (blockColumns floats) stay in L1; long rows read row-major
    /// re-fetch their 16-22 KiB of activations from L2 on every row.
    /// </summary>
    public static byte* BlockF16(in WeightMatrix w, int blockColumns)
    {
        long rows = w.Rows, blocks = w.Columns / blockColumns, blockRowBytes = blockColumns * 2L;
        var blocked = (byte*)HugePages.AllocCopy((nuint)(rows * w.Columns * 2L));
        for (long b = 0; b < blocks; b++)
            for (long r = 0; r < rows; r++)
                Buffer.MemoryCopy(w.Data + r * w.RowBytes + b * blockRowBytes, blocked + (b * rows + r) * blockRowBytes, blockRowBytes, blockRowBytes);
        return blocked;
    }

    /// <summary>
    /// One block of a row of a column-blocked F16 copy times the block's prepared activations: the loop of
    /// <see cref="F16Prepared"/> over <paramref name="n"/> (a multiple of 32) columns, returned unscaled. A block
    /// holding inf or NaN is recomputed with the exact conversion against the unscaled activations.
    /// </summary>
    public static float F16PreparedBlock(byte* segment, float* prepared, float* x, int n) =>
        PreparedChunks(segment, prepared, n, out float sum) ? sum : F16Exact(segment, x, n);

    private static float F16Exact(byte* row, float* x, int n)
    {
        ushort* w = (ushort*)row;
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(w + i));
                acc0 = Vector512.FusedMultiplyAdd(HalfConvert.ToSingle(lo), Vector512.Load(x + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(HalfConvert.ToSingle(hi), Vector512.Load(x + i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(w + i));
                acc0 = Vector256.FusedMultiplyAdd(HalfConvert.ToSingle(lo), Vector256.Load(x + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(HalfConvert.ToSingle(hi), Vector256.Load(x + i + 8), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += HalfConvert.ToSingle(w[i]) * x[i];
        return sum;
    }

    private static float BF16(byte* row, float* x, int n)
    {
        ushort* w = (ushort*)row;
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(w + i));
                acc0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(lo, 16).AsSingle(), Vector256.Load(x + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(hi, 16).AsSingle(), Vector256.Load(x + i + 8), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += Dequantize.BF16ToSingle(w[i]) * x[i];
        return sum;
    }

    private static float Q8_0(byte* row, float* x, int n)
    {
        int blocks = n / 32;
        if (!Vector256.IsHardwareAccelerated) return ViaDequantize(GgmlType.Q8_0, row, x, n);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = row + b * 34;
            float* xb = x + b * 32;
            var q = Vector256.Load((sbyte*)(block + 2));
            var (q0, q1) = Vector256.Widen(q);
            var (i0, i1) = Vector256.Widen(q0);
            var (i2, i3) = Vector256.Widen(q1);
            var p = Vector256.ConvertToSingle(i0) * Vector256.Load(xb);
            p = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i1), Vector256.Load(xb + 8), p);
            p = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i2), Vector256.Load(xb + 16), p);
            p = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i3), Vector256.Load(xb + 24), p);
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(HalfToSingle(block)), p, acc);
        }
        return Vector256.Sum(acc);
    }

    private static float Q4_0(byte* row, float* x, int n)
    {
        int blocks = n / 32;
        if (!Vector256.IsHardwareAccelerated) return ViaDequantize(GgmlType.Q4_0, row, x, n);
        var acc = Vector256<float>.Zero;
        var mask = Vector128.Create((byte)0x0F);
        var eight = Vector128.Create((sbyte)8);
        for (int b = 0; b < blocks; b++)
        {
            byte* block = row + b * 18;
            float* xb = x + b * 32;
            var qs = Vector128.Load(block + 2);
            var lo = (qs & mask).AsSByte() - eight;                 // values 0..15 of the block
            var hi = Vector128.ShiftRightLogical(qs, 4).AsSByte() - eight; // values 16..31
            var (l0, l1) = Vector128.Widen(lo);
            var (h0, h1) = Vector128.Widen(hi);
            var p = ToSingle(l0) * Vector256.Load(xb);
            p = Vector256.FusedMultiplyAdd(ToSingle(l1), Vector256.Load(xb + 8), p);
            p = Vector256.FusedMultiplyAdd(ToSingle(h0), Vector256.Load(xb + 16), p);
            p = Vector256.FusedMultiplyAdd(ToSingle(h1), Vector256.Load(xb + 24), p);
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(HalfToSingle(block)), p, acc);
        }
        return Vector256.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ToSingle(Vector128<short> v) => Vector256.ConvertToSingle(Vector256.Create(Vector128.WidenLower(v), Vector128.WidenUpper(v)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HalfToSingle(byte* p) => HalfConvert.ToSingle(p);

    private static float ViaDequantize(GgmlType type, byte* row, float* x, int n)
    {
        // Dequantize one block at a time onto the stack, then dot: exact layout, modest speed.
        int blockSize = GgmlTypeInfo.BlockSize(type), blockBytes = GgmlTypeInfo.BlockBytes(type);
        int valuesPerStep = Math.Max(blockSize, 256 / blockSize * blockSize);
        float* buffer = stackalloc float[valuesPerStep];
        var span = new Span<float>(buffer, valuesPerStep);
        float sum = 0;
        for (int i = 0; i < n; i += valuesPerStep)
        {
            int len = Math.Min(valuesPerStep, n - i);
            byte* blocks = row + (long)i / blockSize * blockBytes;
            // K-quant super-blocks through the vector dequantizer (the same values, ~20x faster than the scalar one).
            if (type is GgmlType.Q4_K or GgmlType.Q6_K && KQuantDot.HasKernels) TileDequantizer.KQuantSuperBlocks(type, blocks, buffer, len / blockSize);
            else Dequantize.Row(type, new ReadOnlySpan<byte>(blocks, len / blockSize * blockBytes), span[..len]);
            sum += TensorPrimitives.Dot(span[..len], new ReadOnlySpan<float>(x + i, len));
        }
        return sum;
    }
}
