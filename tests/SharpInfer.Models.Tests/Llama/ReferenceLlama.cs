using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Llama;

namespace SharpInfer.Models.Tests.Llama;

/// <summary>
/// A plain float64 Llama forward pass in the style of llama2.c: dequantized weights, a contiguous KV cache,
/// no paging, no threads, no SIMD. The fast path is tested against it.
/// </summary>
internal sealed class ReferenceLlama
{
    private readonly LlamaConfig _c;
    private readonly GgufFile _file;
    private readonly List<double[]>[] _keys, _values; // per layer: per position [kvDim]

    /// <summary>Quantize the input of Q8_0/Q4_0 products to int8 blocks, as the fast path's integer kernels do.</summary>
    public bool QuantizeActivations { get; init; }

    public ReferenceLlama(GgufFile file)
    {
        _file = file;
        _c = LlamaConfig.FromGguf(file);
        _keys = new List<double[]>[_c.Layers];
        _values = new List<double[]>[_c.Layers];
        for (int l = 0; l < _c.Layers; l++) { _keys[l] = []; _values[l] = []; }
    }

    private double[] Vec(string name) => _file.ReadFloats(_file.GetTensor(name)).Select(v => (double)v).ToArray();
    private double[]? OptVec(string name) => _file.FindTensor(name) == null ? null : Vec(name);

    /// <summary>out[r] = sum_c W[r, c] x[c] over the dequantized weights.</summary>
    private double[] MatVec(string name, double[] x)
    {
        var t = _file.GetTensor(name);
        int cols = (int)t.Dimensions[0], rows = (int)t.Dimensions[1];
        var rowValues = new float[cols];
        var bytes = _file.TensorBytes(t);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(t.Type, cols);
        if (QuantizeActivations && SharpInfer.Kernels.Dense.MatMul.HasIntegerPath(t.Type))
        {
            var xf = x.Select(v => (float)v).ToArray();
            int block = ActivationQuantizer.BlockSizeFor(t.Type);
            var q = new sbyte[cols];
            var d = new float[cols / block];
            ActivationQuantizer.QuantizeFor(t.Type, xf, q, d);
            x = q.Select((v, i) => (double)v * d[i / block]).ToArray();
        }
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            Dequantize.Row(t.Type, bytes.Slice(r * rowBytes, rowBytes), rowValues);
            double s = 0;
            for (int c = 0; c < cols; c++) s += rowValues[c] * x[c];
            y[r] = s;
        }
        return y;
    }

    private double[] RmsNorm(double[] x, double[] w)
    {
        double ss = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(ss + _c.RmsEps);
        return x.Select((v, i) => v * scale * w[i]).ToArray();
    }

    private void Rope(double[] v, int heads, int pos)
    {
        int hd = _c.HeadDim, rd = _c.RopeDim;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < rd / 2; i++)
            {
                double freq = Math.Pow(_c.RopeBase, -2.0 * i / rd);
                if (_c.RopeFrequencyFactors != null) freq /= _c.RopeFrequencyFactors[i];
                double theta = pos / _c.RopeLinearScale * freq;
                int a = h * hd + (_c.RopeStyle == SharpInfer.Kernels.Elementwise.RopeStyle.Interleaved ? 2 * i : i);
                int b = h * hd + (_c.RopeStyle == SharpInfer.Kernels.Elementwise.RopeStyle.Interleaved ? 2 * i + 1 : i + rd / 2);
                double x0 = v[a], x1 = v[b];
                v[a] = x0 * Math.Cos(theta) - x1 * Math.Sin(theta);
                v[b] = x0 * Math.Sin(theta) + x1 * Math.Cos(theta);
            }
    }

    /// <summary>Logits [vocab] after feeding <paramref name="token"/> at the next position.</summary>
    public double[] Step(int token)
    {
        int pos = _keys[0].Count;
        var emb = _file.GetTensor("token_embd.weight");
        var row = new float[_c.Dim];
        Dequantize.Row(emb.Type, _file.TensorBytes(emb).Slice((int)(token * GgmlTypeInfo.RowBytes(emb.Type, _c.Dim)), (int)GgmlTypeInfo.RowBytes(emb.Type, _c.Dim)), row);
        double[] x = row.Select(v => (double)v).ToArray();
        int hd = _c.HeadDim, group = _c.Heads / _c.KvHeads;
        for (int l = 0; l < _c.Layers; l++)
        {
            string p = $"blk.{l}.";
            var xn = RmsNorm(x, Vec(p + "attn_norm.weight"));
            var q = MatVec(p + "attn_q.weight", xn);
            var k = MatVec(p + "attn_k.weight", xn);
            var v = MatVec(p + "attn_v.weight", xn);
            if (OptVec(p + "attn_q.bias") is { } bq) for (int i = 0; i < q.Length; i++) q[i] += bq[i];
            if (OptVec(p + "attn_k.bias") is { } bk) for (int i = 0; i < k.Length; i++) k[i] += bk[i];
            if (OptVec(p + "attn_v.bias") is { } bv) for (int i = 0; i < v.Length; i++) v[i] += bv[i];
            Rope(q, _c.Heads, pos);
            Rope(k, _c.KvHeads, pos);
            _keys[l].Add(k); _values[l].Add(v);
            var att = new double[_c.Heads * hd];
            for (int h = 0; h < _c.Heads; h++)
            {
                int kvh = h / group;
                var scores = new double[pos + 1];
                for (int j = 0; j <= pos; j++)
                {
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += q[h * hd + d] * _keys[l][j][kvh * hd + d];
                    scores[j] = s / Math.Sqrt(hd);
                }
                double max = scores.Max(), sum = 0;
                for (int j = 0; j <= pos; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
                for (int j = 0; j <= pos; j++)
                    for (int d = 0; d < hd; d++) att[h * hd + d] += scores[j] / sum * _values[l][j][kvh * hd + d];
            }
            var o = MatVec(p + "attn_output.weight", att);
            for (int i = 0; i < x.Length; i++) x[i] += o[i];
            xn = RmsNorm(x, Vec(p + "ffn_norm.weight"));
            var g = MatVec(p + "ffn_gate.weight", xn);
            var u = MatVec(p + "ffn_up.weight", xn);
            var hidden = g.Select((gv, i) => gv / (1 + Math.Exp(-gv)) * u[i]).ToArray();
            var down = MatVec(p + "ffn_down.weight", hidden);
            for (int i = 0; i < x.Length; i++) x[i] += down[i];
        }
        var final = RmsNorm(x, Vec("output_norm.weight"));
        return MatVec(_file.FindTensor("output.weight") != null ? "output.weight" : "token_embd.weight", final);
    }
}
