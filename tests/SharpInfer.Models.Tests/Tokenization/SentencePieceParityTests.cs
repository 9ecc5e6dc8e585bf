using Microsoft.ML.Tokenizers;
using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;
using Tokenizer = SharpInfer.Models.Tokenization.Tokenizer;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>Our "llama" tokenizer over llama2's tokenizer.model against Microsoft.ML.Tokenizers' LlamaTokenizer.</summary>
public sealed class SentencePieceParityTests
{
    /// <param name="tieBreak">Rightmost reproduces LlamaTokenizer exactly; Leftmost (the default) is sentencepiece's and llama.cpp's rule.</param>
    private static (ITokenizer Ours, LlamaTokenizer Reference)? Load(MergeTieBreak tieBreak = MergeTieBreak.Rightmost)
    {
        string? path = TestEnvironment.Model("llama2-tokenizer.model");
        if (path == null) return null;
        ITokenizer ours = Tokenizer.Create(SentencePieceModelFile.Load(path), tieBreak);
        using var stream = File.OpenRead(path);
        LlamaTokenizer reference = LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);
        return (ours, reference);
    }

    [Fact]
    public void LoadedVocabularyHasLlama2Shape()
    {
        string? path = TestEnvironment.Model("llama2-tokenizer.model");
        if (path == null) return;
        TokenizerVocabulary v = SentencePieceModelFile.Load(path);
        Assert.Equal(32000, v.Tokens.Count);
        Assert.Equal(("<unk>", "<s>", "</s>"), (v.Tokens[0], v.Tokens[1], v.Tokens[2]));
        Assert.Equal((1, 2, (int?)0), (v.BosId, v.EosId, v.UnknownId));
        Assert.True(v.AddSpacePrefix);
        Assert.Equal("<0x00>", v.Tokens[3]);
        Assert.Equal((int)TokenType.Byte, v.TokenTypes![3]);
        Assert.Equal((int)TokenType.Control, v.TokenTypes![1]);
        Assert.Equal((int)TokenType.Unknown, v.TokenTypes![0]);
    }

    [Fact]
    public void IdsMatchLlamaTokenizerOnVariedCorpus()
    {
        if (Load() is not var (ours, reference)) return;
        var mismatches = new List<string>();
        int compared = 0;
        // LlamaTokenizer returns [] for "" even with BOS; llama.cpp and we return [BOS] (checked in KnownIds).
        foreach (string text in TokenizerCorpus.All().Where(t => t.Length > 0))
        {
            var expected = reference.EncodeToIds(text, addBeginningOfSentence: true, addEndOfSentence: false);
            var actual = ours.Encode(text);
            compared++;
            if (!expected.SequenceEqual(actual))
                mismatches.Add($"{Escape(text)}: expected [{string.Join(",", expected)}] got [{string.Join(",", actual)}]");
        }
        Assert.True(compared > TokenizerCorpus.Varied.Length - 1);
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(10)));
    }

    [Fact]
    public void DefaultLeftmostTieBreakDiffersFromLlamaTokenizerOnlyOnRepeatedRuns()
    {
        if (Load(MergeTieBreak.Leftmost) is not var (ours, reference)) return;
        int differing = 0;
        foreach (string text in TokenizerCorpus.All().Where(t => t.Length > 0))
        {
            if (reference.EncodeToIds(text).SequenceEqual(ours.Encode(text))) continue;
            differing++;
            Assert.True(HasRunOfThree(text), $"differs without a tie-prone run: {Escape(text)}");
        }
        Assert.True(differing >= 1); // the "aaaa..." line
        // sentencepiece/llama.cpp merge the leftmost of equal pairs first: 62 a's after "▁a" = 15 x "aaaa" then "aa".
        Assert.Equal([1, 263, .. Enumerable.Repeat(27137, 15), 7340], ours.Encode("a" + new string('a', 62)));
    }

    private static bool HasRunOfThree(string s)
    {
        for (int i = 2; i < s.Length; i++)
            if (s[i] == s[i - 1] && s[i] == s[i - 2]) return true;
        return false;
    }

    [Fact]
    public void WithoutSpecialTokensMatchesToo()
    {
        if (Load() is not var (ours, reference)) return;
        foreach (string text in TokenizerCorpus.Varied)
            Assert.Equal(reference.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false), ours.Encode(text, addSpecialTokens: false));
        Assert.Empty(ours.Encode("", addSpecialTokens: false));
    }

    [Fact]
    public void KnownIds()
    {
        if (Load() is not var (ours, _)) return;
        // Llama-2: "▁Hello" = 15043, "▁world" = 3186; a lone emoji falls back to its 4 UTF-8 bytes (<0xF0> = 243 ...).
        Assert.Equal([1, 15043, 3186], ours.Encode("Hello world"));
        Assert.Equal([1, 29871, 243, 162, 155, 131], ours.Encode("😀"));
        Assert.Equal([1], ours.Encode("")); // llama.cpp: encode("", add_special) = [BOS]
    }

    [Fact]
    public void DecodeRoundTripsAndMatchesReferenceDecode()
    {
        if (Load() is not var (ours, reference)) return;
        foreach (string text in TokenizerCorpus.All())
        {
            var ids = ours.Encode(text);
            string decoded = ours.Decode(ids.ToArray());
            // A literal U+2581 in the input is indistinguishable from an escaped space: it decodes as ' '.
            Assert.Equal(text.Replace('\u2581', ' '), decoded);
            Assert.Equal(reference.Decode(ids), decoded);
        }
    }

    [Fact]
    public void ParseSpecialTurnsSpelledControlTokensIntoIds()
    {
        if (Load() is not var (ours, _)) return;
        var plain = ours.Encode("<s>Hi</s>", addSpecialTokens: false, parseSpecial: false);
        Assert.DoesNotContain(1, plain);
        Assert.DoesNotContain(2, plain);
        var parsed = ours.Encode("<s>Hi</s>", addSpecialTokens: false, parseSpecial: true);
        Assert.Equal(1, parsed[0]);
        Assert.Equal(2, parsed[^1]);
        // The text after a special token gets the space prefix, as in llama.cpp: "▁Hi".
        Assert.Equal(ours.Encode("Hi", addSpecialTokens: false), parsed.Skip(1).Take(parsed.Count - 2));
    }

    [Fact]
    public void LongTextEncodesAndRoundTrips()
    {
        if (Load() is not var (ours, reference)) return;
        string? path = TestEnvironment.SharedFile("data", "tinystories-valid-part1.txt");
        if (path == null) return;
        string text = File.ReadAllText(path)[..100_000];
        var ids = ours.Encode(text);
        Assert.Equal(reference.EncodeToIds(text), ids);
        Assert.Equal(text, ours.Decode(ids.ToArray()));
    }

    internal static string Escape(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
