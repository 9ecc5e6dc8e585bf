namespace SharpInfer.Kernels.Attention;

/// <summary>
/// Causal attention over a window: key k is kept for query q iff k + qoLength + windowLeft >= kvLength + q (at most
/// windowLeft keys before the query's own position) and the causal mask keeps it.
/// </summary>
public readonly struct SlidingWindow : IAttentionVariant
{
    public float SmScale { get; }
    /// <summary>Keys visible before the query's own position (FlashInfer's window_left).</summary>
    public int WindowLeft { get; }

    public SlidingWindow(float smScale, int windowLeft)
    {
        if (windowLeft < 0) throw new ArgumentOutOfRangeException(nameof(windowLeft), windowLeft, "the window cannot be negative");
        SmScale = smScale; WindowLeft = windowLeft;
    }

    public bool HasLogitsTransform => false;
    public float TransformLogit(float scaledLogit, int qoHead, int queryPosition, int kvIndex) => scaledLogit;
    public void VisibleKeys(int queryIndex, int qoLength, int kvLength, out int start, out int end)
    {
        int position = kvLength - qoLength + queryIndex;
        start = Math.Max(0, position - WindowLeft);
        end = Math.Min(kvLength, position + 1);
    }
    public bool HasCustomMask => false;
    public bool IsVisible(int request, int queryIndex, int kvIndex, int qoLength, int kvLength) => true;
}
