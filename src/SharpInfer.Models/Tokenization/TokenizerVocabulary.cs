namespace SharpInfer.Models.Tokenization;

/// <summary>
/// Everything a tokenizer is built from, as GGUF's tokenizer.ggml.* metadata (or a sentencepiece
/// tokenizer.model) carries it. Plain data: <see cref="Tokenizer.Create"/> validates it.
/// </summary>
/// <param name="Model">"llama" (SentencePiece-style BPE over scores) or "gpt2" (byte-level BPE over merges).</param>
/// <param name="Pre">gpt2 pre-tokenizer name (tokenizer.ggml.pre): "llama-bpe"/"llama3", "qwen2", "smollm", "gpt-2"/"gpt2", "default"...; null = "default".</param>
/// <param name="Tokens">Piece text per id.</param>
/// <param name="Scores">llama: merge priority per id (higher merges first); null = all 0.</param>
/// <param name="TokenTypes">Values of <see cref="TokenType"/> per id; null = all Normal.</param>
/// <param name="Merges">gpt2: "left right" lines, highest priority first.</param>
/// <param name="BosId">Beginning-of-sequence id, or -1 when the vocabulary has none (then AddBos must be false).</param>
/// <param name="EosId">End-of-sequence id, or -1 when the vocabulary has none (then AddEos must be false).</param>
/// <param name="UnknownId">Id emitted for text no piece covers; null = none.</param>
/// <param name="PaddingId">Padding id; null = none.</param>
/// <param name="AddBos">Encode prepends BosId when asked to add special tokens.</param>
/// <param name="AddEos">Encode appends EosId when asked to add special tokens.</param>
/// <param name="AddSpacePrefix">llama: a space is prepended to text that starts the input or follows a special token (sentencepiece's add_dummy_prefix).</param>
public sealed record TokenizerVocabulary(
    string Model,
    string? Pre,
    IReadOnlyList<string> Tokens,
    IReadOnlyList<float>? Scores,
    IReadOnlyList<int>? TokenTypes,
    IReadOnlyList<string>? Merges,
    int BosId, int EosId, int? UnknownId, int? PaddingId,
    bool AddBos, bool AddEos, bool AddSpacePrefix);
