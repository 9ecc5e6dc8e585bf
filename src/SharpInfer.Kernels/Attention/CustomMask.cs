namespace SharpInfer.Kernels.Attention;

/// <summary>
/// A custom boolean mask per request in FlashInfer's packed layout: request b's mask is row-major [qoLength, kvLength]
/// bits (1 = visible) starting at byte MaskIndptr[b] of PackedBits, little bit order (element i is bit i % 8 of byte
/// i / 8). It replaces the causal mask.
/// </summary>
public readonly struct CustomMask : IAttentionVariant
{
    private readonly byte[] _packedBits;  // [MaskIndptr[B]]
    private readonly int[] _maskIndptr;   // [B + 1] byte offsets
    public float SmScale { get; }

    public CustomMask(float smScale, byte[] packedBits, int[] maskIndptr)
    {
        ArgumentNullException.ThrowIfNull(packedBits);
        ArgumentNullException.ThrowIfNull(maskIndptr);
        if (maskIndptr.Length == 0 || maskIndptr[^1] > packedBits.Length) throw new ArgumentException($"mask indptr ends at {(maskIndptr.Length == 0 ? -1 : maskIndptr[^1])}, past the {packedBits.Length} mask bytes");
        SmScale = smScale; _packedBits = packedBits; _maskIndptr = maskIndptr;
    }

    /// <summary>
    /// Packs per-request row-major boolean masks (request b: [qoLength_b * kvLength_b]) into the layout above.
    /// </summary>
    public static (byte[] PackedBits, int[] MaskIndptr) Pack(IReadOnlyList<bool[]> masks)
    {
        var indptr = new int[masks.Count + 1];
        for (int b = 0; b < masks.Count; b++) indptr[b + 1] = indptr[b] + (masks[b].Length + 7) / 8;
        var bits = new byte[indptr[^1]];
        for (int b = 0; b < masks.Count; b++)
            for (int i = 0; i < masks[b].Length; i++)
                if (masks[b][i]) bits[indptr[b] + i / 8] |= (byte)(1 << (i % 8));
        return (bits, indptr);
    }

    public bool HasLogitsTransform => false;
    public float TransformLogit(float scaledLogit, int qoHead, int queryPosition, int kvIndex) => scaledLogit;
    public void VisibleKeys(int queryIndex, int qoLength, int kvLength, out int start, out int end) { start = 0; end = kvLength; }
    public bool HasCustomMask => true;
    public bool IsVisible(int request, int queryIndex, int kvIndex, int qoLength, int kvLength)
    {
        long bit = (long)queryIndex * kvLength + kvIndex;
        return (_packedBits[_maskIndptr[request] + (int)(bit >> 3)] >> (int)(bit & 7) & 1) != 0;
    }
}
