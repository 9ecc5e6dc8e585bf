using SharpInfer.Models.Tokenization;
using Tokenizer = SharpInfer.Models.Tokenization.Tokenizer;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>The "llama" algorithm on small hand-made vocabularies (no shared files needed).</summary>
public sealed class SentencePieceTokenizerTests
{
    private const int Unk = 0, Bos = 1, Eos = 2;

    /// <summary>
    /// ids: 0 &lt;unk&gt; 1 &lt;s&gt; 2 &lt;/s&gt; 3..5 &lt;0xE2&gt;&lt;0x98&gt;&lt;0x83&gt; (☃'s bytes),
    /// then pieces with scores; "▁ab" (score -1) beats "ab" (-2), which beats "▁a" (-3).
    /// </summary>
    private static TokenizerVocabulary Vocabulary(bool addBos = true, bool addEos = false, bool addSpacePrefix = true, bool withBytes = true, string[]? extra = null, int[]? extraTypes = null)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>", "<0xE2>", "<0x98>", "<0x83>", "▁", "a", "b", "c", "ab", "▁a", "▁ab", "▁c", "cc" };
        var scores = new List<float> { 0, 0, 0, 0, 0, 0, -10, -20, -20, -20, -2, -3, -1, -4, -5 };
        var types = new List<int> { 2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
        if (!withBytes) { types[3] = types[4] = types[5] = 1; tokens[3] = "x"; tokens[4] = "y"; tokens[5] = "z"; }
        for (int i = 0; i < (extra?.Length ?? 0); i++) { tokens.Add(extra![i]); scores.Add(0); types.Add(extraTypes![i]); }
        return new TokenizerVocabulary("llama", null, tokens, scores, types, null, Bos, Eos, Unk, null, addBos, addEos, addSpacePrefix);
    }

    private static int Id(ITokenizer t, string piece) => Enumerable.Range(0, t.VocabularySize).Single(i => t.TokenText(i) == piece);

    [Fact]
    public void HighestScoringPairMergesFirst()
    {
        ITokenizer t = Tokenizer.Create(Vocabulary());
        // "▁ab": ▁+a (-3) and a+b (-2) compete; a+b wins, then ▁+ab = "▁ab" (-1).
        Assert.Equal([Bos, Id(t, "▁ab")], t.Encode("ab"));
        // "▁ac": only ▁+a merges; "c" stays.
        Assert.Equal([Bos, Id(t, "▁a"), Id(t, "c")], t.Encode("ac"));
    }

    [Fact]
    public void EqualScoresMergeLeftmostByDefault()
    {
        // "▁ccc": c+c can merge at 1-2 or 2-3 with the same score; leftmost gives [▁, cc, c].
        var leftmost = Tokenizer.Create(Vocabulary(addSpacePrefix: false));
        Assert.Equal([Id(leftmost, "cc"), Id(leftmost, "c")], leftmost.Encode("ccc", addSpecialTokens: false));
        var rightmost = Tokenizer.Create(Vocabulary(addSpacePrefix: false), MergeTieBreak.Rightmost);
        Assert.Equal([Id(rightmost, "c"), Id(rightmost, "cc")], rightmost.Encode("ccc", addSpecialTokens: false));
    }

    [Fact]
    public void UnknownCharactersFallBackToBytesOrUnk()
    {
        ITokenizer withBytes = Tokenizer.Create(Vocabulary(addSpacePrefix: false));
        Assert.Equal([3, 4, 5], withBytes.Encode("☃", addSpecialTokens: false));
        Assert.Equal("☃", withBytes.Decode([3, 4, 5]));
        ITokenizer withoutBytes = Tokenizer.Create(Vocabulary(addSpacePrefix: false, withBytes: false));
        Assert.Equal([Unk, Id(withoutBytes, "a")], withoutBytes.Encode("☃a", addSpecialTokens: false));
    }

    [Fact]
    public void BosEosAndSpacePrefixFollowTheVocabulary()
    {
        ITokenizer both = Tokenizer.Create(Vocabulary(addBos: true, addEos: true));
        Assert.Equal([Bos, Id(both, "▁a"), Eos], both.Encode("a"));
        Assert.Equal([Id(both, "▁a")], both.Encode("a", addSpecialTokens: false));
        ITokenizer noPrefix = Tokenizer.Create(Vocabulary(addBos: false, addSpacePrefix: false));
        Assert.Equal([Id(noPrefix, "a")], noPrefix.Encode("a"));
        Assert.Equal("a b", noPrefix.Decode(noPrefix.Encode("a b").ToArray())); // no leading space to drop
    }

    [Fact]
    public void UserDefinedTokensAreAlwaysWholeAndControlTokensOnlyWhenParsed()
    {
        ITokenizer t = Tokenizer.Create(Vocabulary(extra: ["<tool>"], extraTypes: [(int)TokenType.UserDefined]));
        int tool = Id(t, "<tool>");
        // As in llama.cpp, the text after a special token gets the space prefix again.
        Assert.Equal([Bos, Id(t, "▁a"), tool, Id(t, "▁ab")], t.Encode("a<tool>ab"));
        Assert.DoesNotContain(Eos, t.Encode("a</s>"));
        Assert.Equal([Bos, Id(t, "▁a"), Eos], t.Encode("a</s>", addSpecialTokens: true, parseSpecial: true));
        Assert.Equal("a<tool> ab", t.Decode(t.Encode("a<tool>ab").ToArray()));
    }

    [Fact]
    public void DecodeSkipsOrShowsControlTokens()
    {
        ITokenizer t = Tokenizer.Create(Vocabulary(addEos: true));
        int[] ids = [.. t.Encode("ab c")];
        Assert.Equal("ab c", t.Decode(ids));
        Assert.Equal("<s>ab c</s>", t.Decode(ids, skipSpecialTokens: false));
        Assert.True(t.IsEndOfGeneration(Eos));
        Assert.False(t.IsEndOfGeneration(Bos));
        Assert.Equal(TokenType.Byte, t.GetTokenType(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.TokenText(t.VocabularySize));
    }
}
