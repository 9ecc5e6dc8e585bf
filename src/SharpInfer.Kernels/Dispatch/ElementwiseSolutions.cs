using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Dispatch;

/// <summary>
/// RMSNorm, fused add + RMSNorm and SiLU-and-mul over rows, one generic body per op specialised by vector width.
/// Rows are <c>x.Length / weight.Length</c>; every buffer is the caller's.
/// </summary>
public static class ElementwiseSolutions<TWidth> where TWidth : struct, IVectorWidth
{
    /// <param name="x">[rows, hidden].</param>
    /// <param name="weight">[hidden].</param>
    /// <param name="y">[rows, hidden]; may alias x.</param>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int h = weight.Length;
        if (h == 0 || x.Length % h != 0 || y.Length < x.Length) throw new ArgumentException($"rmsnorm: x {x.Length} is not rows of weight {h}, or y {y.Length} too short");
        for (int r = 0; r < x.Length; r += h)
        {
            var row = x.Slice(r, h);
            float scale = 1f / MathF.Sqrt(VectorLoops.SumOfSquares<TWidth>(row) / h + eps);
            VectorLoops.Binary<ScaledMultiplyOperator, TWidth>(new(scale), row, weight, y.Slice(r, h));
        }
    }

    /// <summary>residual += x; y = rmsnorm(residual). All [rows, hidden] except weight [hidden].</summary>
    public static void FusedAddRmsNorm(ReadOnlySpan<float> x, Span<float> residual, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int h = weight.Length;
        if (h == 0 || x.Length % h != 0 || residual.Length != x.Length || y.Length < x.Length) throw new ArgumentException($"fused_add_rmsnorm: x {x.Length}, residual {residual.Length}, weight {h}, y {y.Length} disagree");
        for (int r = 0; r < x.Length; r += h)
        {
            var res = residual.Slice(r, h);
            float scale = 1f / MathF.Sqrt(VectorLoops.AddInPlaceSumOfSquares<TWidth>(x.Slice(r, h), res) / h + eps);
            VectorLoops.Binary<ScaledMultiplyOperator, TWidth>(new(scale), res, weight, y.Slice(r, h));
        }
    }

    /// <summary>output = silu(gate) * up, all the same length; output may alias gate or up.</summary>
    public static void SiluAndMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output) =>
        VectorLoops.Binary<SiluMultiplyOperator, TWidth>(default, gate, up, output);

    /// <summary>
    /// RoPE in place over x [tokens, heads, headDim] with the whole head rotated. cosSinCache is [maxSeqLen, headDim]:
    /// row p holds cos of the headDim/2 angles of position p, then their sin.
    /// </summary>
    public static void RopeNeoX(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cosSinCache, ReadOnlySpan<int> positions)
    {
        int half = CheckRope(x, heads, headDim, cosSinCache, positions);
        ref float cacheRef = ref MemoryMarshal.GetReference(cosSinCache);
        for (int t = 0; t < positions.Length; t++)
        {
            ref float c = ref Unsafe.Add(ref cacheRef, positions[t] * headDim);
            ref float s = ref Unsafe.Add(ref c, half);
            for (int h = 0; h < heads; h++)
            {
                ref float lo = ref MemoryMarshal.GetReference(x.Slice((t * heads + h) * headDim, headDim));
                ref float hi = ref Unsafe.Add(ref lo, half);
                int i = 0;
                if (TWidth.Use512 && Vector512.IsHardwareAccelerated && half >= 16)
                    for (; i <= half - 16; i += 16)
                    {
                        var a = Vector512.LoadUnsafe(ref lo, (nuint)i); var b = Vector512.LoadUnsafe(ref hi, (nuint)i);
                        var cv = Vector512.LoadUnsafe(ref c, (nuint)i); var sv = Vector512.LoadUnsafe(ref s, (nuint)i);
                        (a * cv - b * sv).StoreUnsafe(ref lo, (nuint)i);
                        (a * sv + b * cv).StoreUnsafe(ref hi, (nuint)i);
                    }
                if (TWidth.Use256 && Vector256.IsHardwareAccelerated && half - i >= 8)
                    for (; i <= half - 8; i += 8)
                    {
                        var a = Vector256.LoadUnsafe(ref lo, (nuint)i); var b = Vector256.LoadUnsafe(ref hi, (nuint)i);
                        var cv = Vector256.LoadUnsafe(ref c, (nuint)i); var sv = Vector256.LoadUnsafe(ref s, (nuint)i);
                        (a * cv - b * sv).StoreUnsafe(ref lo, (nuint)i);
                        (a * sv + b * cv).StoreUnsafe(ref hi, (nuint)i);
                    }
                for (; i < half; i++)
                {
                    float a = Unsafe.Add(ref lo, i), b = Unsafe.Add(ref hi, i), cv = Unsafe.Add(ref c, i), sv = Unsafe.Add(ref s, i);
                    Unsafe.Add(ref lo, i) = a * cv - b * sv;
                    Unsafe.Add(ref hi, i) = a * sv + b * cv;
                }
            }
        }
    }

    /// <summary>Interleaved RoPE (pairs (2i, 2i+1)); same layout as <see cref="RopeNeoX"/>.</summary>
    public static void RopeInterleaved(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cosSinCache, ReadOnlySpan<int> positions)
    {
        int half = CheckRope(x, heads, headDim, cosSinCache, positions);
        // Per token, cos and signed sin expanded to the pair layout: cosE[2i] = cosE[2i+1] = cos_i, sinE[2i] = -sin_i,
        // sinE[2i+1] = sin_i; then out = x * cosE + swapPairs(x) * sinE, shared by all heads of the token.
        Span<float> table = headDim <= 512 ? stackalloc float[2 * headDim] : new float[2 * headDim];
        ref float cosE = ref MemoryMarshal.GetReference(table);
        ref float sinE = ref Unsafe.Add(ref cosE, headDim);
        for (int t = 0; t < positions.Length; t++)
        {
            var row = cosSinCache.Slice(positions[t] * headDim, headDim);
            bool vector = (TWidth.Use512 && Vector512.IsHardwareAccelerated && headDim >= 16) || (TWidth.Use256 && Vector256.IsHardwareAccelerated && headDim >= 8);
            if (vector)
                for (int i = 0; i < half; i++)
                {
                    Unsafe.Add(ref cosE, 2 * i) = Unsafe.Add(ref cosE, 2 * i + 1) = row[i];
                    Unsafe.Add(ref sinE, 2 * i) = -row[half + i];
                    Unsafe.Add(ref sinE, 2 * i + 1) = row[half + i];
                }
            for (int h = 0; h < heads; h++)
            {
                ref float v = ref MemoryMarshal.GetReference(x.Slice((t * heads + h) * headDim, headDim));
                int j = 0;
                if (TWidth.Use512 && Vector512.IsHardwareAccelerated && headDim >= 16)
                    for (; j <= headDim - 16; j += 16)
                    {
                        var a = Vector512.LoadUnsafe(ref v, (nuint)j);
                        var swapped = Vector512.Shuffle(a, Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
                        (a * Vector512.LoadUnsafe(ref cosE, (nuint)j) + swapped * Vector512.LoadUnsafe(ref sinE, (nuint)j)).StoreUnsafe(ref v, (nuint)j);
                    }
                if (TWidth.Use256 && Vector256.IsHardwareAccelerated && headDim - j >= 8)
                    for (; j <= headDim - 8; j += 8)
                    {
                        var a = Vector256.LoadUnsafe(ref v, (nuint)j);
                        var swapped = Vector256.Shuffle(a, Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6));
                        (a * Vector256.LoadUnsafe(ref cosE, (nuint)j) + swapped * Vector256.LoadUnsafe(ref sinE, (nuint)j)).StoreUnsafe(ref v, (nuint)j);
                    }
                for (; j < headDim; j += 2)
                {
                    int i = j / 2;
                    float a = Unsafe.Add(ref v, j), b = Unsafe.Add(ref v, j + 1), cv = row[i], sv = row[half + i];
                    Unsafe.Add(ref v, j) = a * cv - b * sv;
                    Unsafe.Add(ref v, j + 1) = a * sv + b * cv;
                }
            }
        }
    }

    private static int CheckRope(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cosSinCache, ReadOnlySpan<int> positions)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"rope: head dim {headDim} must be positive and even");
        if (x.Length != (long)positions.Length * heads * headDim) throw new ArgumentException($"rope: x has {x.Length} values, not {positions.Length} tokens x {heads} heads x {headDim}");
        int maxSeq = cosSinCache.Length / headDim;
        foreach (int p in positions)
            if ((uint)p >= (uint)maxSeq) throw new ArgumentOutOfRangeException(nameof(positions), p, $"position outside the cos/sin cache of {maxSeq} rows");
        return headDim / 2;
    }
}
