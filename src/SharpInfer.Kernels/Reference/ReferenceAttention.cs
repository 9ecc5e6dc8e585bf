namespace SharpInfer.Kernels.Reference;

/// <summary>
/// Float64 causal grouped-query attention as FlashInfer Trace's gqa_paged and gqa_ragged references define it:
/// query i of a request with qoLen queries over kvLen keys sees keys 0 .. kvLen - qoLen + i (bottom-right aligned).
/// Also returns the base-2 log-sum-exp of the scaled logits.
/// </summary>
public static class ReferenceAttention
{
    /// <param name="q">[totalQ, qoHeads, headDim].</param>
    /// <param name="kCache">[numPages, pageSize, kvHeads, headDim] (NHD, as in the definitions); vCache the same.</param>
    /// <param name="qoIndptr">[B + 1]; for decode, 0, 1, ..., B.</param>
    /// <param name="kvLastPageLen">[B]; null means full last pages (page_size 1).</param>
    /// <returns>output [totalQ, qoHeads, headDim]; <paramref name="lse"/> [totalQ, qoHeads].</returns>
    public static double[] GqaPaged(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int qoHeads, int kvHeads, int headDim, int pageSize,
        ReadOnlySpan<int> qoIndptr, ReadOnlySpan<int> kvIndptr, ReadOnlySpan<int> kvIndices, ReadOnlySpan<int> kvLastPageLen, double smScale, out double[] lse)
    {
        int batch = qoIndptr.Length - 1;
        var kvStart = new int[batch + 1];
        var gatheredK = new List<float>();
        var gatheredV = new List<float>();
        int tokenFloats = kvHeads * headDim;
        for (int b = 0; b < batch; b++)
        {
            int pages = kvIndptr[b + 1] - kvIndptr[b];
            int len = pages == 0 ? 0 : (pages - 1) * pageSize + (kvLastPageLen.IsEmpty ? pageSize : kvLastPageLen[b]);
            for (int j = 0; j < len; j++)
            {
                long at = ((long)kvIndices[kvIndptr[b] + j / pageSize] * pageSize + j % pageSize) * tokenFloats;
                gatheredK.AddRange(kCache.Slice((int)at, tokenFloats));
                gatheredV.AddRange(vCache.Slice((int)at, tokenFloats));
            }
            kvStart[b + 1] = kvStart[b] + len;
        }
        return GqaRagged(q, gatheredK.ToArray(), gatheredV.ToArray(), qoHeads, kvHeads, headDim, qoIndptr, kvStart, smScale, out lse);
    }

    /// <param name="k">[totalKv, kvHeads, headDim]; v the same.</param>
    public static double[] GqaRagged(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int qoHeads, int kvHeads, int headDim,
        ReadOnlySpan<int> qoIndptr, ReadOnlySpan<int> kvIndptr, double smScale, out double[] lse)
    {
        int totalQ = qoIndptr[^1], group = qoHeads / kvHeads;
        var output = new double[(long)totalQ * qoHeads * headDim];
        lse = new double[(long)totalQ * qoHeads];
        Array.Fill(lse, double.NegativeInfinity);
        for (int b = 0; b < qoIndptr.Length - 1; b++)
        {
            int qs = qoIndptr[b], qoLen = qoIndptr[b + 1] - qs, ks = kvIndptr[b], kvLen = kvIndptr[b + 1] - ks;
            if (qoLen <= 0 || kvLen <= 0) continue;
            var logits = new double[kvLen];
            for (int i = 0; i < qoLen; i++)
                for (int h = 0; h < qoHeads; h++)
                {
                    int kvh = h / group, visible = Math.Min(kvLen, kvLen - qoLen + i + 1);
                    if (visible <= 0) continue;
                    var qv = q.Slice(((qs + i) * qoHeads + h) * headDim, headDim);
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < visible; j++)
                    {
                        var kv = k.Slice(((ks + j) * kvHeads + kvh) * headDim, headDim);
                        double dot = 0;
                        for (int d = 0; d < headDim; d++) dot += (double)qv[d] * kv[d];
                        logits[j] = dot * smScale;
                        max = Math.Max(max, logits[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++) { logits[j] = Math.Exp(logits[j] - max); sum += logits[j]; }
                    long o = ((long)(qs + i) * qoHeads + h) * headDim;
                    for (int j = 0; j < visible; j++)
                    {
                        double w = logits[j] / sum;
                        var vv = v.Slice(((ks + j) * kvHeads + kvh) * headDim, headDim);
                        for (int d = 0; d < headDim; d++) output[o + d] += w * vv[d];
                    }
                    lse[(long)(qs + i) * qoHeads + h] = (max + Math.Log(sum)) / Math.Log(2.0);
                }
        }
        return output;
    }
}
