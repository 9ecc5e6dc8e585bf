namespace SharpInfer.Planner;

/// <summary>Shape of the feed-forward block: GPT's two-matrix GeLU MLP or LLaMA's three-matrix SwiGLU.</summary>
public enum MlpKind { Gelu, SwiGlu }

/// <summary>
/// Hyper-parameters of a decoder-only transformer, enough to count parameters, FLOPs and activation bytes.
/// </summary>
/// <param name="Name">Display name.</param>
/// <param name="Layers">Number of transformer blocks L.</param>
/// <param name="Hidden">Model width h.</param>
/// <param name="Heads">Attention (query) heads a.</param>
/// <param name="KvHeads">Key/value heads (equal to <paramref name="Heads"/> without grouped-query attention).</param>
/// <param name="FfnHidden">Feed-forward inner width f (4h for GPT, about 8h/3 rounded for LLaMA).</param>
/// <param name="Vocab">Vocabulary size V.</param>
/// <param name="MaxSequence">Context length the model was trained for (tokens).</param>
/// <param name="Mlp">GeLU (2 matrices) or SwiGLU (3 matrices).</param>
/// <param name="TiedEmbeddings">Whether the output head shares the input embedding matrix.</param>
/// <param name="ParameterCountOverride">Exact parameter count when known (e.g. summed from a GGUF's tensors).</param>
public sealed record ModelSpec(
    string Name, int Layers, int Hidden, int Heads, int KvHeads, int FfnHidden, int Vocab, int MaxSequence,
    MlpKind Mlp, bool TiedEmbeddings, long? ParameterCountOverride = null)
{
    /// <summary>A GPT-style model: GeLU MLP of width 4h, no GQA, tied embeddings.</summary>
    public static ModelSpec Gpt(string name, int layers, int hidden, int heads, int vocab = 51200, int maxSequence = 2048) =>
        new(name, layers, hidden, heads, heads, 4 * hidden, vocab, maxSequence, MlpKind.Gelu, TiedEmbeddings: true);

    /// <summary>Width of one attention head (elements).</summary>
    public int HeadDim => Hidden / Heads;

    /// <summary>Width of the K (or V) projection output: KvHeads * HeadDim elements.</summary>
    public int KvWidth => KvHeads * HeadDim;

    /// <summary>Weights of one block that take part in matrix multiplies (QKV, output projection, MLP).</summary>
    public long LayerMatmulParameters =>
        (long)Hidden * (Hidden + 2L * KvWidth) + (long)Hidden * Hidden
        + (Mlp == MlpKind.Gelu ? 2L : 3L) * Hidden * FfnHidden;

    /// <summary>All weights of one block: matmuls plus two norms (LayerNorm has a bias, RMSNorm has not).</summary>
    public long LayerParameters => LayerMatmulParameters + (Mlp == MlpKind.Gelu ? 4L : 2L) * Hidden;

    /// <summary>Input embedding matrix V*h.</summary>
    public long EmbeddingParameters => (long)Vocab * Hidden;

    /// <summary>Total parameters: blocks, embedding, an untied output head, final norm.</summary>
    public long TotalParameters => ParameterCountOverride
        ?? Layers * LayerParameters + EmbeddingParameters * (TiedEmbeddings ? 1 : 2) + Hidden;

    /// <summary>Checks the shape is self-consistent; throws <see cref="PlannerInputException"/> otherwise.</summary>
    public ModelSpec Validated()
    {
        if (Layers <= 0 || Hidden <= 0 || Heads <= 0 || KvHeads <= 0 || FfnHidden <= 0 || Vocab <= 0 || MaxSequence <= 0)
            throw new PlannerInputException($"model '{Name}': layers, hidden, heads, kv heads, FFN width, vocab and context must all be positive");
        if (Hidden % Heads != 0)
            throw new PlannerInputException($"model '{Name}': hidden size {Hidden} is not divisible by {Heads} heads");
        if (Heads % KvHeads != 0)
            throw new PlannerInputException($"model '{Name}': {Heads} heads are not divisible by {KvHeads} KV heads");
        return this;
    }
}
