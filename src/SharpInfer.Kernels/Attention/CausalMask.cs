namespace SharpInfer.Kernels.Attention;

/// <summary>
/// Causal mask aligned bottom-right: key k is masked for query q iff k + qoLength > kvLength + q, i.e. the queries
/// are the last qoLength positions of the sequence (decode: qoLength = 1 sees every key).
/// </summary>
public readonly struct CausalMask(float smScale) : IAttentionVariant
{
    public float SmScale { get; } = smScale;
    public bool HasLogitsTransform => false;
    public float TransformLogit(float scaledLogit, int qoHead, int queryPosition, int kvIndex) => scaledLogit;
    public void VisibleKeys(int queryIndex, int qoLength, int kvLength, out int start, out int end) { start = 0; end = Math.Min(kvLength, kvLength - qoLength + queryIndex + 1); }
    public bool HasCustomMask => false;
    public bool IsVisible(int request, int queryIndex, int kvIndex, int qoLength, int kvLength) => true;
}
