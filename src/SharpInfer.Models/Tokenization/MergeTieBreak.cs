namespace SharpInfer.Models.Tokenization;

/// <summary>
/// Which of two equally scored SentencePiece merges goes first. It only matters in runs such as
/// "aaaaaa" or "!!!!!" where the same pair can merge at several places.
/// </summary>
public enum MergeTieBreak
{
    /// <summary>The leftmost pair: sentencepiece's bpe_model.cc and llama.cpp's llm_tokenizer_spm. The default.</summary>
    Leftmost,

    /// <summary>
    /// The rightmost pair: what Microsoft.ML.Tokenizers 2.0's LlamaTokenizer does (its SymbolPair
    /// orders equal scores by descending position), e.g. "aaaaaa" -> [▁a, aa, aaaa...] instead of [▁a, aaaa..., aa].
    /// </summary>
    Rightmost,
}
