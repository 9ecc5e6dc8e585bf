using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Matrix-vector products of long F32 rows four at a time: four independent read streams keep more memory requests
/// in flight than one row's unrolled dot, which is what bounds F32 decode. Measured in-process: +8% decode on the
/// 1.1B shape (rows of 2048 and 5632); on the 135M shape's short rows (576) TensorPrimitives' unrolled dot is ~19%
/// faster, so rows shorter than 2048 keep it. Every row is one 16-lane accumulator filled left to right and summed at
/// the end, in a group of four or alone, so a row's value does not depend on how the rows were split.
/// </summary>
internal static unsafe class F32Rows
{
    public static bool Applies(int columns) => Vector512.IsHardwareAccelerated && columns % 16 == 0 && columns >= 2048;

    /// <summary>y[r] = w[r, :] . x for rows [start, end).</summary>
    public static void Dot(in WeightMatrix w, int start, int end, float* x, float* y)
    {
        int n = w.Columns, r = start;
        for (; r + 4 <= end; r += 4)
        {
            float* w0 = (float*)(w.Data + (long)r * w.RowBytes), w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int i = 0; i < n; i += 16)
            {
                var u = Vector512.Load(x + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + i), u, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w1 + i), u, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w2 + i), u, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w3 + i), u, a3);
            }
            y[r] = Vector512.Sum(a0); y[r + 1] = Vector512.Sum(a1); y[r + 2] = Vector512.Sum(a2); y[r + 3] = Vector512.Sum(a3);
        }
        for (; r < end; r++) y[r] = One((float*)(w.Data + (long)r * w.RowBytes), x, n);
    }

    /// <summary>One row, accumulated exactly as each row of the four-row loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float One(float* w, float* x, int n)
    {
        var a = Vector512<float>.Zero;
        for (int i = 0; i < n; i += 16) a = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), a);
        return Vector512.Sum(a);
    }
}
