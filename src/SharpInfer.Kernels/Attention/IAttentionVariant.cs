namespace SharpInfer.Kernels.Attention;

/// <summary>
/// FlashInfer's variant hooks for one attention kernel, specialised at compile time: the kernels are generic over a
/// struct implementing this, so RyuJIT compiles one copy per variant and folds the constant properties away
/// (no virtual calls in the hot loop).
/// Positions: a query's index q in its request (0..qoLength), its absolute position kvLength - qoLength + q, and a
/// key's index k in its request (0..kvLength).
/// </summary>
public interface IAttentionVariant
{
    /// <summary>Softmax scale applied to q.k, usually 1/sqrt(headDim).</summary>
    float SmScale { get; }

    /// <summary>False when the logit is q.k * SmScale unchanged (the kernel then folds SmScale*log2(e) into q).</summary>
    bool HasLogitsTransform { get; }

    /// <summary>The logit (natural-log domain) of a scaled score <paramref name="scaledLogit"/> = q.k * SmScale.</summary>
    float TransformLogit(float scaledLogit, int qoHead, int queryPosition, int kvIndex);

    /// <summary>
    /// The keys query <paramref name="queryIndex"/> may see form the range [start, end) (before any custom mask).
    /// Causal and sliding-window masks are exactly such ranges, so the kernel masks them per block, not per element.
    /// </summary>
    void VisibleKeys(int queryIndex, int qoLength, int kvLength, out int start, out int end);

    /// <summary>True when <see cref="IsVisible"/> must be asked for every (query, key) in the visible range.</summary>
    bool HasCustomMask { get; }

    /// <summary>Element mask of request <paramref name="request"/> (only called when <see cref="HasCustomMask"/>).</summary>
    bool IsVisible(int request, int queryIndex, int kvIndex, int qoLength, int kvLength);
}
