namespace SharpInfer.Kernels.Attention;

/// <summary>Order of the axes inside one page of K (or V).</summary>
public enum KvLayout
{
    /// <summary>[pages, kvHeads, pageSize, headDim]: one head's page is contiguous, the natural CPU layout (default).</summary>
    Hnd,
    /// <summary>[pages, pageSize, kvHeads, headDim]: one token's heads are contiguous (FlashInfer's NHD).</summary>
    Nhd,
}
