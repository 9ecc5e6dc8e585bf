using System.Numerics.Tensors;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// y[t, r] = W[r, :] . x[t, :] for a batch of T activation rows, split over the worker pool by output rows.
/// Each output element is one RowDot or one float dot over the dequantized row, so its value does not depend on
/// the thread count or on how the rows were split.
/// </summary>
public sealed unsafe class MatMul : IParallelWork
{
    private const int RowsPerItem = 16;
    [ThreadStatic] private static float[]? t_rowBuffer;

    private readonly WorkerPool _pool;
    private WeightMatrix _w;
    private float* _x;
    private float* _y;
    private int _tokens;
    private int _yStride;

    public MatMul(WorkerPool pool) => _pool = pool;

    /// <param name="w">[rows, cols] weights.</param>
    /// <param name="x">[tokens, cols] activations, row-major.</param>
    /// <param name="y">[tokens, yStride] outputs; columns 0..rows-1 of each row are written.</param>
    public void Run(in WeightMatrix w, float* x, float* y, int tokens, int yStride)
    {
        _w = w; _x = x; _y = y; _tokens = tokens; _yStride = yStride;
        _pool.For((w.Rows + RowsPerItem - 1) / RowsPerItem, this);
    }

    public void Run(in WeightMatrix w, float* x, float* y, int tokens) => Run(w, x, y, tokens, w.Rows);

    void IParallelWork.Execute(int item)
    {
        int start = item * RowsPerItem, end = Math.Min(_w.Rows, start + RowsPerItem);
        int cols = _w.Columns;
        if (_tokens == 1 || _w.Type == GgmlType.F32)
        {
            for (int r = start; r < end; r++)
            {
                byte* row = _w.Data + (long)r * _w.RowBytes;
                for (int t = 0; t < _tokens; t++)
                    _y[(long)t * _yStride + r] = RowDot.Dot(_w.Type, row, _x + (long)t * cols, cols);
            }
            return;
        }
        // Several tokens: dequantize each row once and reuse it for every token.
        var buffer = t_rowBuffer is { } b && b.Length >= cols ? b : (t_rowBuffer = new float[Math.Max(cols, 4096)]);
        var rowValues = buffer.AsSpan(0, cols);
        for (int r = start; r < end; r++)
        {
            _w.DequantizeRow(r, rowValues);
            for (int t = 0; t < _tokens; t++)
                _y[(long)t * _yStride + r] = TensorPrimitives.Dot(rowValues, new ReadOnlySpan<float>(_x + (long)t * cols, cols));
        }
    }
}
