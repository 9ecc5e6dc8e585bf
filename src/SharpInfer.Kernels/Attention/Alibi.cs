namespace SharpInfer.Kernels.Attention;

/// <summary>
/// ALiBi: logit = q.k * SmScale + slope[qoHead] * (kvIndex - queryPosition), the query position being absolute
/// (kvLength - qoLength + queryIndex); with or without the causal mask.
/// </summary>
public readonly struct Alibi : IAttentionVariant
{
    private readonly float[] _slopes; // [numQoHeads]
    public float SmScale { get; }
    public bool Causal { get; }

    /// <param name="slopes">[numQoHeads] one slope per query head.</param>
    public Alibi(float smScale, float[] slopes, bool causal = true)
    {
        ArgumentNullException.ThrowIfNull(slopes);
        SmScale = smScale; _slopes = slopes; Causal = causal;
    }

    public ReadOnlySpan<float> Slopes => _slopes;

    /// <summary>The standard slopes 2^(-8 (h+1) / H) for a power-of-two head count H (the paper's geometric sequence).</summary>
    public static float[] StandardSlopes(int heads)
    {
        var slopes = new float[heads];
        for (int h = 0; h < heads; h++) slopes[h] = MathF.Pow(2f, -8f * (h + 1) / heads);
        return slopes;
    }

    public bool HasLogitsTransform => true;
    public float TransformLogit(float scaledLogit, int qoHead, int queryPosition, int kvIndex) => scaledLogit + _slopes[qoHead] * (kvIndex - queryPosition);
    public void VisibleKeys(int queryIndex, int qoLength, int kvLength, out int start, out int end)
    {
        start = 0;
        end = Causal ? Math.Min(kvLength, kvLength - qoLength + queryIndex + 1) : kvLength;
    }
    public bool HasCustomMask => false;
    public bool IsVisible(int request, int queryIndex, int kvIndex, int qoLength, int kvLength) => true;
}
