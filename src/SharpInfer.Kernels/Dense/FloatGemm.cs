using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Register-blocked float GEMM for prompt processing: y[t, r] = w[r, :] . x[t, :] over a tile of up to 4 weight rows
/// and all tokens, 4 tokens at a time, so each loaded weight vector feeds 4 FMAs and each activation vector 4 more.
/// Every (row, token) pair owns one accumulator filled left to right and summed at the end, so a pair's value does
/// not depend on which tile or token group it was computed in.
/// <para>
/// Q8_0/Q4_0 matrices with an interleaved copy come here only with float activations or when a call groups them with
/// a matrix without one: otherwise <see cref="InterleavedGemm"/>'s integer multiply-adds take their tokens, 1.5-1.9x
/// (16-bit) or ~3-4x (VNNI) faster than this tile's float FMAs (which reach ~95% of their peak at 576 columns).
/// </para>
/// </summary>
public static unsafe class FloatGemm
{
    /// <param name="w">[rows, cols] float weights (rows &lt;= 4), row stride <paramref name="cols"/>.</param>
    /// <param name="x">[tokens, cols] activations.</param>
    /// <param name="y">Output: y[t * yStride + r] for the tile's rows.</param>
    public static void Tile(float* w, int rows, int cols, float* x, int tokens, float* y, int yStride)
    {
        int t = 0;
        if (Vector256.IsHardwareAccelerated && cols % 8 == 0)
        {
            if (rows == 4)
            {
                for (; t + 4 <= tokens; t += 4)
                    Kernel4x4(w, cols, x + (long)t * cols, y + (long)t * yStride, yStride);
                for (; t < tokens; t++)
                    Kernel4x1(w, cols, x + (long)t * cols, y + (long)t * yStride);
            }
            for (; t < tokens; t++)
                for (int r = 0; r < rows; r++)
                    y[(long)t * yStride + r] = Dot1(w + (long)r * cols, x + (long)t * cols, cols);
            return;
        }
        for (; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float s = 0;
                for (int i = 0; i < cols; i++) s += w[(long)r * cols + i] * x[(long)t * cols + i];
                y[(long)t * yStride + r] = s;
            }
    }

    /// <summary>One pair, accumulated exactly as each pair of <see cref="Kernel4x4"/> is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot1(float* w, float* x, int cols)
    {
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < cols; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), acc);
        return Vector256.Sum(acc);
    }

    /// <summary>
    /// Four rows, one token (decode): four independent FMA chains hide the FMA latency, so a thread streams weights
    /// as fast as memory delivers them. Each pair accumulates exactly as in <see cref="Dot1"/>.
    /// </summary>
    private static void Kernel4x1(float* w, int cols, float* x, float* y)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float* w0 = w, w1 = w + cols, w2 = w + 2 * cols, w3 = w + 3 * cols;
        for (int i = 0; i < cols; i += 8)
        {
            var u = Vector256.Load(x + i);
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w0 + i), u, a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w1 + i), u, a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w2 + i), u, a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w3 + i), u, a3);
        }
        Store4(a0, a1, a2, a3, y);
    }

    /// <summary>
    /// y[0..4) = the lane sums of four accumulators. With AVX, two rounds of horizontal adds and one add of the
    /// halves: 4 instructions for 4 sums instead of ~12 per sum, in exactly <see cref="Vector256.Sum"/>'s order
    /// (((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))), so every path gives a pair the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3, float* y)
    {
        if (Avx.IsSupported)
        {
            var h = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
            (h.GetLower() + h.GetUpper()).Store(y);
            return;
        }
        y[0] = Vector256.Sum(a0); y[1] = Vector256.Sum(a1); y[2] = Vector256.Sum(a2); y[3] = Vector256.Sum(a3);
    }

    private static void Kernel4x4(float* w, int cols, float* x, float* y, int yStride)
    {
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default;
        float* w0 = w, w1 = w + cols, w2 = w + 2 * cols, w3 = w + 3 * cols;
        float* x0 = x, x1 = x + cols, x2 = x + 2 * cols, x3 = x + 3 * cols;
        for (int i = 0; i < cols; i += 8)
        {
            var v0 = Vector256.Load(w0 + i); var v1 = Vector256.Load(w1 + i);
            var v2 = Vector256.Load(w2 + i); var v3 = Vector256.Load(w3 + i);
            var u = Vector256.Load(x0 + i);
            a00 = Vector256.FusedMultiplyAdd(v0, u, a00); a10 = Vector256.FusedMultiplyAdd(v1, u, a10);
            a20 = Vector256.FusedMultiplyAdd(v2, u, a20); a30 = Vector256.FusedMultiplyAdd(v3, u, a30);
            u = Vector256.Load(x1 + i);
            a01 = Vector256.FusedMultiplyAdd(v0, u, a01); a11 = Vector256.FusedMultiplyAdd(v1, u, a11);
            a21 = Vector256.FusedMultiplyAdd(v2, u, a21); a31 = Vector256.FusedMultiplyAdd(v3, u, a31);
            u = Vector256.Load(x2 + i);
            a02 = Vector256.FusedMultiplyAdd(v0, u, a02); a12 = Vector256.FusedMultiplyAdd(v1, u, a12);
            a22 = Vector256.FusedMultiplyAdd(v2, u, a22); a32 = Vector256.FusedMultiplyAdd(v3, u, a32);
            u = Vector256.Load(x3 + i);
            a03 = Vector256.FusedMultiplyAdd(v0, u, a03); a13 = Vector256.FusedMultiplyAdd(v1, u, a13);
            a23 = Vector256.FusedMultiplyAdd(v2, u, a23); a33 = Vector256.FusedMultiplyAdd(v3, u, a33);
        }
        Store4(a00, a10, a20, a30, y);
        Store4(a01, a11, a21, a31, y + yStride);
        Store4(a02, a12, a22, a32, y + 2L * yStride);
        Store4(a03, a13, a23, a33, y + 3L * yStride);
    }
}
