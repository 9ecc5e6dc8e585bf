namespace SharpInfer.Kernels.Attention;

/// <summary>Every query sees every key of its request (the shared-prefix level of cascade attention, encoders).</summary>
public readonly struct NoMask(float smScale) : IAttentionVariant
{
    public float SmScale { get; } = smScale;
    public bool HasLogitsTransform => false;
    public float TransformLogit(float scaledLogit, int qoHead, int queryPosition, int kvIndex) => scaledLogit;
    public void VisibleKeys(int queryIndex, int qoLength, int kvLength, out int start, out int end) { start = 0; end = kvLength; }
    public bool HasCustomMask => false;
    public bool IsVisible(int request, int queryIndex, int kvIndex, int qoLength, int kvLength) => true;
}
