using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Dispatch;

/// <summary>
/// The scalar gemm solution: each output row's weights dequantized once (ggml's rules), then plain scalar dot products
/// with every activation row. Split over the pool by output rows like MatMul, so the two compare like for like.
/// </summary>
internal sealed unsafe class ScalarGemm(WorkerPool pool) : IParallelWork
{
    private const int RowsPerItem = 16;
    [ThreadStatic] private static float[]? t_row;
    private WeightMatrix _w;
    private float* _a;
    private float* _c;
    private int _m;

    public void Run(in WeightMatrix w, float* a, float* c, int m)
    {
        _w = w; _a = a; _c = c; _m = m;
        pool.For((w.Rows + RowsPerItem - 1) / RowsPerItem, this);
    }

    void IParallelWork.Execute(int item)
    {
        int k = _w.Columns, n = _w.Rows;
        var row = t_row is { } b && b.Length >= k ? b : (t_row = new float[k]);
        for (int r = item * RowsPerItem, end = Math.Min(n, r + RowsPerItem); r < end; r++)
        {
            _w.DequantizeRow(r, row);
            for (int t = 0; t < _m; t++)
            {
                float* x = _a + (long)t * k;
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                int i = 0;
                for (; i + 4 <= k; i += 4) { s0 += row[i] * x[i]; s1 += row[i + 1] * x[i + 1]; s2 += row[i + 2] * x[i + 2]; s3 += row[i + 3] * x[i + 3]; }
                for (; i < k; i++) s0 += row[i] * x[i];
                _c[(long)t * n + r] = (s0 + s1) + (s2 + s3);
            }
        }
    }
}
