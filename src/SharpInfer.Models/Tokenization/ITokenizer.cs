namespace SharpInfer.Models.Tokenization;

/// <summary>Text to token ids and back, for one vocabulary.</summary>
public interface ITokenizer
{
    int VocabularySize { get; }
    int BosId { get; }
    int EosId { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>; BOS/EOS per the vocabulary's AddBos/AddEos when
    /// <paramref name="addSpecialTokens"/>. Text that spells a control token (e.g. "&lt;s&gt;") is
    /// encoded as plain text; use the overload with parseSpecial to turn it into the token.
    /// </summary>
    IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true);

    /// <summary>
    /// As <see cref="Encode(string, bool)"/>; with <paramref name="parseSpecial"/>, control tokens
    /// spelled in the text become their ids (user-defined tokens always do, as in llama.cpp).
    /// </summary>
    IReadOnlyList<int> Encode(string text, bool addSpecialTokens, bool parseSpecial);

    /// <summary>Text of <paramref name="ids"/>; control and unknown tokens are left out when <paramref name="skipSpecialTokens"/>.</summary>
    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true);

    /// <summary>The raw vocabulary piece, for tables and debugging.</summary>
    string TokenText(int id);

    /// <summary>EOS, and end-of-turn control tokens such as &lt;|eot_id|&gt;, &lt;|im_end|&gt;, &lt;|endoftext|&gt; when present.</summary>
    bool IsEndOfGeneration(int id);

    TokenType GetTokenType(int id);
}
