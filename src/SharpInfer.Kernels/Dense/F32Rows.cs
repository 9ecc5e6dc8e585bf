namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Matrix-vector products of long F32 rows four at a time, through the GEMM's one-token tile kernel: four
/// independent read streams keep more memory requests in flight than one row's unrolled dot, which is what bounds
/// F32 decode. Measured in-process: +8% decode on the 1.1B shape (rows of 2048 and 5632); on the 135M shape's short
/// rows (576) TensorPrimitives' unrolled dot is ~19% faster, so rows shorter than 2048 keep it. A row's value is the
/// tile kernel's, in a group of four or alone (see <see cref="FloatGemm"/>), so it does not depend on the split.
/// </summary>
internal static unsafe class F32Rows
{
    public static bool Applies(int columns) => columns >= 2048;

    /// <summary>y[r] = w[r, :] . x for rows [start, end).</summary>
    public static void Dot(in WeightMatrix w, int start, int end, float* x, float* y)
    {
        for (int r = start; r < end; r += 4)
            FloatGemm.Tile((float*)(w.Data + (long)r * w.RowBytes), Math.Min(4, end - r), w.Columns, x, 1, y + r, 1);
    }
}
