using SharpInfer.Kernels.Dense;

namespace SharpInfer.Kernels.Reference;

/// <summary>
/// Float64 references of the elementwise ops and gemm, written for clarity: the tests and <c>bench kernels</c> judge
/// every solution against these. Inputs are float32 as the engine holds them; outputs are float64.
/// </summary>
public static class ReferenceKernels
{
    /// <summary>x [rows, h], weight [h] -> [rows, h].</summary>
    public static double[] RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, double eps)
    {
        int h = weight.Length;
        var y = new double[x.Length];
        for (int r = 0; r < x.Length; r += h)
        {
            double sum = 0;
            for (int i = 0; i < h; i++) sum += (double)x[r + i] * x[r + i];
            double inv = 1 / Math.Sqrt(sum / h + eps);
            for (int i = 0; i < h; i++) y[r + i] = x[r + i] * inv * weight[i];
        }
        return y;
    }

    /// <summary>residual + x, then RMSNorm; <paramref name="newResidual"/> is residual + x.</summary>
    public static double[] FusedAddRmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> weight, double eps, out double[] newResidual)
    {
        int h = weight.Length;
        newResidual = new double[x.Length];
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) newResidual[i] = (double)x[i] + residual[i];
        for (int r = 0; r < x.Length; r += h)
        {
            double sum = 0;
            for (int i = 0; i < h; i++) sum += newResidual[r + i] * newResidual[r + i];
            double inv = 1 / Math.Sqrt(sum / h + eps);
            for (int i = 0; i < h; i++) y[r + i] = newResidual[r + i] * inv * weight[i];
        }
        return y;
    }

    public static double[] SiluAndMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        var y = new double[gate.Length];
        for (int i = 0; i < y.Length; i++) y[i] = gate[i] / (1 + Math.Exp(-(double)gate[i])) * up[i];
        return y;
    }

    /// <summary>RoPE of x [tokens, heads, headDim] (whole head rotated) from cosSinCache [maxSeq, headDim] (cos half, sin half).</summary>
    public static double[] Rope(ReadOnlySpan<float> x, int heads, int headDim, ReadOnlySpan<float> cosSinCache, ReadOnlySpan<int> positions, Elementwise.RopeStyle style)
    {
        int half = headDim / 2;
        var y = new double[x.Length];
        for (int t = 0; t < positions.Length; t++)
        {
            var row = cosSinCache.Slice(positions[t] * headDim, headDim);
            for (int h = 0; h < heads; h++)
            {
                int o = (t * heads + h) * headDim;
                for (int i = 0; i < half; i++)
                {
                    int ia = style == Elementwise.RopeStyle.NeoX ? i : 2 * i, ib = style == Elementwise.RopeStyle.NeoX ? i + half : 2 * i + 1;
                    double a = x[o + ia], b = x[o + ib], c = row[i], s = row[half + i];
                    y[o + ia] = a * c - b * s;
                    y[o + ib] = a * s + b * c;
                }
            }
        }
        return y;
    }

    /// <summary>C [m, N] = A [m, K] @ B.T with B's rows dequantized exactly (ggml's rules) and the products summed in float64.</summary>
    public static double[] Gemm(in WeightMatrix b, ReadOnlySpan<float> a, int m, bool quantizeActivations = false)
    {
        int n = b.Rows, k = b.Columns;
        if (quantizeActivations) a = QuantizedActivations(a, k, b.Type);
        var c = new double[(long)m * n];
        var row = new float[k];
        for (int r = 0; r < n; r++)
        {
            b.DequantizeRow(r, row);
            for (int t = 0; t < m; t++)
            {
                double sum = 0;
                var x = a.Slice(t * k, k);
                for (int i = 0; i < k; i++) sum += (double)row[i] * x[i];
                c[(long)t * n + r] = sum;
            }
        }
        return c;
    }

    /// <summary>
    /// Activations as the integer gemm over <paramref name="weightType"/> sees them: each row quantized to int8 blocks
    /// (<see cref="SharpInfer.Kernels.Quantization.ActivationQuantizer.QuantizeFor"/>), then dequantized.
    /// </summary>
    public static float[] QuantizedActivations(ReadOnlySpan<float> a, int k, SharpInfer.Kernels.Quantization.GgmlType weightType = SharpInfer.Kernels.Quantization.GgmlType.Q8_0)
    {
        int block = SharpInfer.Kernels.Quantization.ActivationQuantizer.BlockSizeFor(weightType);
        var q = new sbyte[a.Length];
        var d = new float[a.Length / block];
        for (int t = 0; t < a.Length / k; t++)
            SharpInfer.Kernels.Quantization.ActivationQuantizer.QuantizeFor(weightType, a.Slice(t * k, k), q.AsSpan(t * k, k), d.AsSpan(t * k / block, k / block));
        var result = new float[a.Length];
        for (int i = 0; i < a.Length; i++) result[i] = q[i] * d[i / block];
        return result;
    }
}
