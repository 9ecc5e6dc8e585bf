using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Matrix-vector products of long F32 rows, one row at a time with four independent 256-bit accumulators (128 bytes
/// a step). A single core streams rows this way faster than four rows side by side: 21-23 against 17-20 GB/s on
/// the reference machine (one thread, scratch benchmark over 8 matrices of 5632 x 2048), and two threads tie at the
/// host's bandwidth, so the two-thread ceiling rises with it. 512-bit loads are slower here: GGUF aligns tensors to 32
/// bytes, so they straddle cache lines. On the 135M shape's short rows (576) TensorPrimitives' dot is used instead.
/// A row's value depends on the row alone, not on the split.
/// </summary>
internal static unsafe class F32Rows
{
    public static bool Applies(int columns) => columns >= 2048 && columns % 32 == 0;

    /// <summary>y[r] = w[r, :] . x for rows [start, end).</summary>
    public static void Dot(in WeightMatrix w, int start, int end, float* x, float* y)
    {
        for (int r = start; r < end; r++) y[r] = Row((float*)(w.Data + (long)r * w.RowBytes), x, w.Columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Row(float* w, float* x, int cols)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < cols; i += 32)
        {
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 8), Vector256.Load(x + i + 8), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 16), Vector256.Load(x + i + 16), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 24), Vector256.Load(x + i + 24), a3);
        }
        return Vector256.Sum((a0 + a1) + (a2 + a3));
    }
}
