namespace SharpInfer.Kernels.Attention;

/// <summary>Gemma-2 / Grok logits soft-cap: logit = cap * tanh(q.k * SmScale / cap), with or without the causal mask.</summary>
public readonly struct LogitsSoftCap : IAttentionVariant
{
    public float SmScale { get; }
    public float Cap { get; }
    public bool Causal { get; }

    public LogitsSoftCap(float smScale, float cap, bool causal = true)
    {
        if (!(cap > 0)) throw new ArgumentOutOfRangeException(nameof(cap), cap, "the soft-cap must be positive");
        SmScale = smScale; Cap = cap; Causal = causal;
    }

    public bool HasLogitsTransform => true;
    public float TransformLogit(float scaledLogit, int qoHead, int queryPosition, int kvIndex) => Cap * MathF.Tanh(scaledLogit / Cap);
    public void VisibleKeys(int queryIndex, int qoLength, int kvLength, out int start, out int end)
    {
        start = 0;
        end = Causal ? Math.Min(kvLength, kvLength - qoLength + queryIndex + 1) : kvLength;
    }
    public bool HasCustomMask => false;
    public bool IsVisible(int request, int queryIndex, int kvIndex, int qoLength, int kvLength) => true;
}
