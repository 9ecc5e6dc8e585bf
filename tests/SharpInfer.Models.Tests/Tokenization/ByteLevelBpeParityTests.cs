using SharpInfer.Models.Tokenization;
using Tokenizer = SharpInfer.Models.Tokenization.Tokenizer;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>Our "gpt2" tokenizer (merges, byte alphabet, GPT-2 regex) against TiktokenTokenizer's gpt2 (r50k_base).</summary>
public sealed class ByteLevelBpeParityTests
{
    private static readonly ITokenizer Ours = Tokenizer.Create(Gpt2TestVocabulary.Vocabulary);

    [Fact]
    public void EveryTiktokenTokenHasAMerge()
    {
        Assert.Equal(0, Gpt2TestVocabulary.Unsplittable);
        Assert.Equal(50257, Ours.VocabularySize);
        Assert.Equal(50000, Gpt2TestVocabulary.Vocabulary.Merges!.Count);
    }

    [Fact]
    public void IdsMatchTiktokenOnVariedCorpus()
    {
        var mismatches = new List<string>();
        foreach (string text in TokenizerCorpus.All())
        {
            // The TinyStories text separates stories with "<|endoftext|>", which tiktoken reads as the special token.
            var expected = Gpt2TestVocabulary.Reference.EncodeToIds(text);
            var actual = Ours.Encode(text, addSpecialTokens: false, parseSpecial: true);
            if (!expected.SequenceEqual(actual))
                mismatches.Add($"{SentencePieceParityTests.Escape(text)}: expected [{string.Join(",", expected)}] got [{string.Join(",", actual)}]");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(10)));
    }

    [Fact]
    public void KnownIds()
    {
        // GPT-2: "Hello" = 15496, " world" = 995, "<|endoftext|>" = 50256.
        Assert.Equal([15496, 995], Ours.Encode("Hello world"));
        Assert.Equal([15496, 50256], Ours.Encode("Hello<|endoftext|>", addSpecialTokens: true, parseSpecial: true));
        Assert.DoesNotContain(50256, Ours.Encode("Hello<|endoftext|>"));
    }

    [Fact]
    public void DecodeRoundTrips()
    {
        foreach (string text in TokenizerCorpus.All())
        {
            var ids = Ours.Encode(text, addSpecialTokens: false, parseSpecial: true);
            Assert.Equal(text, Ours.Decode(ids.ToArray(), skipSpecialTokens: false));
            Assert.Equal(Gpt2TestVocabulary.Reference.Decode(ids), Ours.Decode(ids.ToArray(), skipSpecialTokens: false));
        }
    }

    [Fact]
    public void EndOfTextIsEndOfGeneration()
    {
        Assert.True(Ours.IsEndOfGeneration(50256));
        Assert.False(Ours.IsEndOfGeneration(15496));
        Assert.Equal(TokenType.Control, Ours.GetTokenType(50256));
        Assert.Equal("", Ours.Decode([15496, 50256]).Replace("Hello", ""));
    }

    [Fact]
    public void LongTextMatches()
    {
        string? path = SharpInfer.Tests.TestEnvironment.SharedFile("data", "tinystories-valid-part1.txt");
        if (path == null) return;
        string text = File.ReadAllText(path)[..100_000];
        Assert.Equal(Gpt2TestVocabulary.Reference.EncodeToIds(text), Ours.Encode(text, addSpecialTokens: false, parseSpecial: true));
    }
}
