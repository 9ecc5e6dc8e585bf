using System.Text;
using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;
using Tokenizer = SharpInfer.Models.Tokenization.Tokenizer;

namespace SharpInfer.Models.Tests.Tokenization;

public sealed class IncrementalDecoderTests
{
    private static ITokenizer? Llama2()
    {
        string? path = TestEnvironment.Model("llama2-tokenizer.model");
        return path == null ? null : Tokenizer.Create(SentencePieceModelFile.Load(path));
    }

    private static ITokenizer Gpt2() => Tokenizer.Create(Gpt2TestVocabulary.Vocabulary);

    /// <summary>Pushes every id; checks each piece is well-formed UTF-16 and that the pieces add up to Decode.</summary>
    private static List<string> PushAll(ITokenizer tokenizer, IReadOnlyList<int> ids, bool skipSpecialTokens = true)
    {
        var decoder = new IncrementalDecoder(tokenizer, skipSpecialTokens);
        var pieces = ids.Select(decoder.Push).ToList();
        pieces.Add(decoder.Flush());
        foreach (string piece in pieces) Assert.True(IsWellFormed(piece), $"lone surrogate in {SentencePieceParityTests.Escape(piece)}");
        Assert.Equal(tokenizer.Decode(ids.ToArray(), skipSpecialTokens), string.Concat(pieces));
        return pieces;
    }

    private static bool IsWellFormed(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i])) return false;
        }
        return true;
    }

    [Fact]
    public void SentencePieceLeadingSpaceIsDroppedOnceAndInnerSpacesKept()
    {
        if (Llama2() is not { } llama) return;
        var ids = llama.Encode("Once upon a time");
        Assert.Equal(1, ids[0]);
        var pieces = PushAll(llama, ids);
        Assert.Equal(["", "Once", " upon", " a", " time", ""], pieces);
    }

    [Fact]
    public void ByteFallbackCharacterAppearsWhenComplete()
    {
        if (Llama2() is not { } llama) return;
        var ids = llama.Encode("😀!", addSpecialTokens: false); // ▁ <0xF0> <0x9F> <0x98> <0x80> !
        var pieces = PushAll(llama, ids);
        Assert.Equal(["", "", "", "", "😀", "!", ""], pieces);
    }

    [Fact]
    public void VariedCorpusAddsUpForBothTokenizers()
    {
        ITokenizer gpt2 = Gpt2();
        foreach (string text in TokenizerCorpus.Varied)
        {
            PushAll(gpt2, gpt2.Encode(text));
            if (Llama2() is { } llama)
            {
                PushAll(llama, llama.Encode(text));
                PushAll(llama, llama.Encode(text), skipSpecialTokens: false);
            }
        }
    }

    [Fact]
    public void Gpt2ByteLevelPiecesHoldBackPartialCharacters()
    {
        ITokenizer gpt2 = Gpt2();
        // A CJK character and an emoji are split over several byte-level tokens in GPT-2.
        var ids = gpt2.Encode("北京🎉");
        Assert.True(ids.Count > 2);
        var pieces = PushAll(gpt2, ids);
        Assert.Equal("北京🎉", string.Concat(pieces));
        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
    }

    [Fact]
    public void FlushTurnsAnIncompleteCharacterIntoReplacement()
    {
        if (Llama2() is not { } llama) return;
        int e2 = llama.Encode("\u2603", addSpecialTokens: false).Single(id => llama.TokenText(id) == "<0xE2>");
        var decoder = new IncrementalDecoder(llama);
        Assert.Equal("", decoder.Push(e2));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD", llama.Decode([e2]));
    }

    [Fact]
    public void RandomByteAndTextTokensAddUpToDecode()
    {
        if (Llama2() is not { } llama) return;
        var random = new Random(1234);
        for (int trial = 0; trial < 300; trial++)
        {
            // Byte tokens are ids 3..258 in Llama-2; mix them with ordinary pieces, BOS and EOS.
            var ids = Enumerable.Range(0, random.Next(1, 24)).Select(_ => random.Next(4) switch
            {
                0 => random.Next(3, 259),
                1 => random.Next(0, 3),
                _ => random.Next(259, 32000),
            }).ToList();
            PushAll(llama, ids);
            PushAll(llama, ids, skipSpecialTokens: false);
        }
    }

    [Fact]
    public void RandomGpt2TokensAddUpToDecode()
    {
        ITokenizer gpt2 = Gpt2();
        var random = new Random(99);
        for (int trial = 0; trial < 300; trial++)
            PushAll(gpt2, Enumerable.Range(0, random.Next(1, 24)).Select(_ => random.Next(0, 50257)).ToList());
    }

    /// <summary>A tokenizer that is not one of ours: the decoder falls back to decoding prefixes.</summary>
    private sealed class Wrapped(ITokenizer inner) : ITokenizer
    {
        public int VocabularySize => inner.VocabularySize;
        public int BosId => inner.BosId;
        public int EosId => inner.EosId;
        public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true) => inner.Encode(text, addSpecialTokens);
        public IReadOnlyList<int> Encode(string text, bool addSpecialTokens, bool parseSpecial) => inner.Encode(text, addSpecialTokens, parseSpecial);
        public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true) => inner.Decode(ids, skipSpecialTokens);
        public string TokenText(int id) => inner.TokenText(id);
        public bool IsEndOfGeneration(int id) => inner.IsEndOfGeneration(id);
        public TokenType GetTokenType(int id) => inner.GetTokenType(id);
    }

    [Fact]
    public void OtherTokenizersGetThePrefixDecodingFallback()
    {
        var wrapped = new Wrapped(Gpt2());
        foreach (string text in TokenizerCorpus.Varied) PushAll(wrapped, wrapped.Encode(text));
        var pieces = PushAll(wrapped, wrapped.Encode("北京🎉"));
        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
    }
}
