namespace SharpInfer.Models.Tokenization;

/// <summary>Builds the tokenizer a vocabulary asks for, after checking the vocabulary.</summary>
public static class Tokenizer
{
    /// <exception cref="TokenizerFormatException">The vocabulary is unusable; the message names the field.</exception>
    public static ITokenizer Create(TokenizerVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        TokenType[] types = Validate(vocabulary);
        return vocabulary.Model switch
        {
            "llama" => new SentencePieceTokenizer(vocabulary, types),
            "gpt2" => new ByteLevelBpeTokenizer(vocabulary, types, PreTokenizer.ForName(vocabulary.Pre)),
            _ => throw new InvalidOperationException("unreachable: model checked by Validate"),
        };
    }

    private static TokenType[] Validate(TokenizerVocabulary v)
    {
        if (v.Model is not ("llama" or "gpt2"))
            throw new TokenizerFormatException($"tokenizer.ggml.model: unsupported tokenizer model '{v.Model}' (expected 'llama' or 'gpt2')");
        if (v.Tokens is null || v.Tokens.Count == 0)
            throw new TokenizerFormatException("tokenizer.ggml.tokens: the vocabulary has no tokens");
        int n = v.Tokens.Count;
        for (int id = 0; id < n; id++)
            if (v.Tokens[id] is null) throw new TokenizerFormatException($"tokenizer.ggml.tokens: token {id} is null");

        if (v.Scores is not null)
        {
            if (v.Scores.Count != n)
                throw new TokenizerFormatException($"tokenizer.ggml.scores: {v.Scores.Count} scores for {n} tokens");
            for (int id = 0; id < n; id++)
                if (float.IsNaN(v.Scores[id])) throw new TokenizerFormatException($"tokenizer.ggml.scores: score of token {id} is NaN");
        }

        var types = new TokenType[n];
        if (v.TokenTypes is null) Array.Fill(types, TokenType.Normal);
        else
        {
            if (v.TokenTypes.Count != n)
                throw new TokenizerFormatException($"tokenizer.ggml.token_type: {v.TokenTypes.Count} types for {n} tokens");
            for (int id = 0; id < n; id++)
            {
                int t = v.TokenTypes[id];
                if (t < (int)TokenType.Normal || t > (int)TokenType.Byte)
                    throw new TokenizerFormatException($"tokenizer.ggml.token_type: token {id} has type {t} (expected 1..6)");
                types[id] = (TokenType)t;
            }
        }

        CheckSpecialId("tokenizer.ggml.bos_token_id", v.BosId, n, v.AddBos, "tokenizer.ggml.add_bos_token");
        CheckSpecialId("tokenizer.ggml.eos_token_id", v.EosId, n, v.AddEos, "tokenizer.ggml.add_eos_token");
        if (v.UnknownId is int unk && (uint)unk >= (uint)n)
            throw new TokenizerFormatException($"tokenizer.ggml.unknown_token_id: {unk} is outside the vocabulary of {n}");
        if (v.PaddingId is int pad && (uint)pad >= (uint)n)
            throw new TokenizerFormatException($"tokenizer.ggml.padding_token_id: {pad} is outside the vocabulary of {n}");

        if (v.Model == "gpt2")
        {
            if (v.Merges is null)
                throw new TokenizerFormatException("tokenizer.ggml.merges: a gpt2 vocabulary needs merges");
            for (int i = 0; i < v.Merges.Count; i++)
            {
                string? line = v.Merges[i];
                int space = line is null || line.Length < 3 ? -1 : line.IndexOf(' ', 1);
                if (space < 0 || space == line!.Length - 1)
                    throw new TokenizerFormatException($"tokenizer.ggml.merges: line {i} '{line}' is not 'left right'");
            }
        }
        return types;
    }

    private static void CheckSpecialId(string field, int id, int n, bool added, string addField)
    {
        if (id == -1)
        {
            if (added) throw new TokenizerFormatException($"{field}: {addField} is true but the id is -1 (absent)");
            return;
        }
        if ((uint)id >= (uint)n)
            throw new TokenizerFormatException($"{field}: {id} is outside the vocabulary of {n}");
    }
}
