using SharpInfer.Models.Gguf;

namespace SharpInfer.Models.Tokenization;

/// <summary>Reads a tokenizer's vocabulary from the tokenizer.ggml.* metadata of a GGUF file.</summary>
public static class GgufVocabulary
{
    public static TokenizerVocabulary Read(GgufFile file)
    {
        string model = file.GetString("tokenizer.ggml.model");
        if (model is not ("llama" or "gpt2"))
            throw GgufFormatException.InField(file.FileName, "metadata key 'tokenizer.ggml.model'", $"tokenizer '{model}' is not supported (llama, gpt2 are)");
        var tokens = file.TryGetArray<string>("tokenizer.ggml.tokens")
            ?? throw GgufFormatException.InField(file.FileName, "metadata key 'tokenizer.ggml.tokens'", "missing (array of strings expected)");
        var scores = file.TryGetArray<float>("tokenizer.ggml.scores");
        var types = file.TryGetArray<int>("tokenizer.ggml.token_type");
        var merges = file.TryGetArray<string>("tokenizer.ggml.merges");
        if (model == "gpt2" && merges == null)
            throw GgufFormatException.InField(file.FileName, "metadata key 'tokenizer.ggml.merges'", "missing (a gpt2 tokenizer needs its merges)");
        int? Id(string key) => file.TryGetInteger(key) is { } v ? (int)v : null;
        bool isLlama = model == "llama";
        return new TokenizerVocabulary(
            Model: model,
            Pre: file.TryGetString("tokenizer.ggml.pre"),
            Tokens: tokens,
            Scores: scores,
            TokenTypes: types,
            Merges: merges,
            BosId: Id("tokenizer.ggml.bos_token_id") ?? (isLlama ? 1 : 0),
            EosId: Id("tokenizer.ggml.eos_token_id") ?? (isLlama ? 2 : 0),
            UnknownId: Id("tokenizer.ggml.unknown_token_id") ?? (isLlama ? 0 : null),
            PaddingId: Id("tokenizer.ggml.padding_token_id"),
            AddBos: file.TryGetBool("tokenizer.ggml.add_bos_token") ?? isLlama,
            AddEos: file.TryGetBool("tokenizer.ggml.add_eos_token") ?? false,
            AddSpacePrefix: file.TryGetBool("tokenizer.ggml.add_space_prefix") ?? isLlama);
    }
}
