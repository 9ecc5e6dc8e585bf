using SharpInfer.Models.Tokenization;
using Tokenizer = SharpInfer.Models.Tokenization.Tokenizer;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>Unusable vocabularies fail in Tokenizer.Create with one TokenizerFormatException naming the field.</summary>
public sealed class VocabularyValidationTests
{
    private static readonly TokenizerVocabulary GoodLlama = new(
        "llama", null, ["<unk>", "<s>", "</s>", "▁a"], [0f, 0f, 0f, -1f], [2, 3, 3, 1], null,
        BosId: 1, EosId: 2, UnknownId: 0, PaddingId: null, AddBos: true, AddEos: false, AddSpacePrefix: true);

    private static readonly TokenizerVocabulary GoodGpt2 = new(
        "gpt2", "gpt2", ["a", "b", "ab", "<|endoftext|>"], null, [1, 1, 1, 3], ["a b"],
        BosId: 3, EosId: 3, UnknownId: null, PaddingId: null, AddBos: false, AddEos: false, AddSpacePrefix: false);

    private static void AssertRejected(TokenizerVocabulary vocabulary, string field)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.Create(vocabulary));
        Assert.StartsWith(field + ":", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void GoodVocabulariesAreAccepted()
    {
        Assert.Equal(4, Tokenizer.Create(GoodLlama).VocabularySize);
        ITokenizer gpt2 = Tokenizer.Create(GoodGpt2);
        Assert.Equal([2], gpt2.Encode("ab"));
    }

    [Fact] public void UnknownModel() => AssertRejected(GoodLlama with { Model = "bert" }, "tokenizer.ggml.model");
    [Fact] public void EmptyTokens() => AssertRejected(GoodLlama with { Tokens = [], Scores = null, TokenTypes = null }, "tokenizer.ggml.tokens");
    [Fact] public void ScoresLengthMismatch() => AssertRejected(GoodLlama with { Scores = [0f, 0f] }, "tokenizer.ggml.scores");
    [Fact] public void NaNScore() => AssertRejected(GoodLlama with { Scores = [0f, 0f, float.NaN, 0f] }, "tokenizer.ggml.scores");
    [Fact] public void TypesLengthMismatch() => AssertRejected(GoodLlama with { TokenTypes = [1] }, "tokenizer.ggml.token_type");
    [Fact] public void TypeOutOfRange() => AssertRejected(GoodLlama with { TokenTypes = [2, 3, 3, 9] }, "tokenizer.ggml.token_type");
    [Fact] public void BosOutOfRange() => AssertRejected(GoodLlama with { BosId = 999 }, "tokenizer.ggml.bos_token_id");
    [Fact] public void NegativeEos() => AssertRejected(GoodLlama with { EosId = -5 }, "tokenizer.ggml.eos_token_id");
    [Fact] public void AddBosWithoutBos() => AssertRejected(GoodLlama with { BosId = -1 }, "tokenizer.ggml.bos_token_id");
    [Fact] public void UnknownOutOfRange() => AssertRejected(GoodLlama with { UnknownId = 4 }, "tokenizer.ggml.unknown_token_id");
    [Fact] public void PaddingOutOfRange() => AssertRejected(GoodLlama with { PaddingId = -2 }, "tokenizer.ggml.padding_token_id");
    [Fact] public void Gpt2WithoutMerges() => AssertRejected(GoodGpt2 with { Merges = null }, "tokenizer.ggml.merges");
    [Fact] public void UnsupportedPre() => AssertRejected(GoodGpt2 with { Pre = "tekken-9000" }, "tokenizer.ggml.pre");

    [Theory]
    [InlineData("ab")]
    [InlineData("a ")]
    [InlineData("")]
    [InlineData(" ")]
    public void MalformedMergeLine(string line)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.Create(GoodGpt2 with { Merges = ["a b", line] }));
        Assert.StartsWith("tokenizer.ggml.merges:", e.Message);
        Assert.Contains("line 1", e.Message);
    }

    [Fact]
    public void AbsentBosIsFineWhenNotAdded()
    {
        ITokenizer t = Tokenizer.Create(GoodLlama with { BosId = -1, AddBos = false });
        Assert.Equal(-1, t.BosId);
        Assert.Equal([3], t.Encode("a"));
    }
}
