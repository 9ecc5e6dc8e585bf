using SharpInfer.Models.Tokenization;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>Word splits of the gpt2 pre-tokenizers on hand-checked examples (llama.cpp's regexes per tokenizer.ggml.pre).</summary>
public sealed class PreTokenizerTests
{
    private static string[] Split(string? pre, string text)
    {
        var words = new List<(int Start, int Length)>();
        PreTokenizer.ForName(pre).Split(text, words);
        return words.Select(w => text.Substring(w.Start, w.Length)).ToArray();
    }

    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("12345", new[] { "123", "45" })]                      // digits in groups of up to three
    [InlineData("x1234567", new[] { "x", "123", "456", "7" })]
    [InlineData("I'm here", new[] { "I", "'m", " here" })]
    [InlineData("DON'T", new[] { "DON", "'T" })]                       // contractions match either case
    [InlineData("a\n\nb", new[] { "a", "\n\n", "b" })]
    [InlineData("x  y", new[] { "x", " ", " y" })]                     // the last space joins the word
    [InlineData("hi!!\n", new[] { "hi", "!!\n" })]                     // punctuation takes trailing newlines
    [InlineData("  \n  x", new[] { "  \n", " ", " x" })]
    [InlineData("(ok)", new[] { "(ok", ")" })]                         // one non-letter may lead a word
    public void Llama3(string text, string[] expected)
    {
        Assert.Equal(expected, Split("llama-bpe", text));
        Assert.Equal(expected, Split("llama3", text));
        Assert.True(PreTokenizer.ForName("llama-bpe").IgnoreMerges);
    }

    [Theory]
    [InlineData("12345", new[] { "1", "2", "3", "4", "5" })]           // single digits
    [InlineData("abc123 def", new[] { "abc", "1", "2", "3", " def" })]
    [InlineData("it's IT'S", new[] { "it", "'s", " IT", "'S" })]
    [InlineData("a\r\nb", new[] { "a", "\r\n", "b" })]
    public void Qwen2(string text, string[] expected)
    {
        Assert.Equal(expected, Split("qwen2", text));
        Assert.False(PreTokenizer.ForName("qwen2").IgnoreMerges);
    }

    [Theory]
    [InlineData("abc 123", new[] { "abc", " ", "1", "2", "3" })]       // digits cut out first, then the GPT-2 regex
    [InlineData("I'm 42!", new[] { "I", "'m", " ", "4", "2", "!" })]
    public void SmolLm(string text, string[] expected) => Assert.Equal(expected, Split("smollm", text));

    [Theory]
    [InlineData("abc 123", new[] { "abc", " 123" })]
    [InlineData("I'm", new[] { "I", "'m" })]
    [InlineData("DON'T", new[] { "DON", "'", "T" })]                   // GPT-2 contractions are lower case only
    [InlineData("a   b", new[] { "a", "  ", " b" })]
    [InlineData("tail  ", new[] { "tail", "  " })]
    public void Gpt2(string text, string[] expected)
    {
        Assert.Equal(expected, Split("gpt2", text));
        Assert.Equal(expected, Split("gpt-2", text));
    }

    [Fact]
    public void DefaultCutsPunctuationThenWordsThenDigitTriples()
    {
        Assert.Equal(["a", ",", "b", " ", "123", "4"], Split(null, "a,b 1234"));
        Assert.Equal(Split(null, "a,b 1234"), Split("default", "a,b 1234"));
    }

    [Fact]
    public void EmptyTextHasNoWords() => Assert.Empty(Split("llama3", ""));

    [Fact]
    public void UnknownNameIsAFormatErrorNamingTheField()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => PreTokenizer.ForName("no-such-pre"));
        Assert.Contains("tokenizer.ggml.pre", e.Message);
        Assert.Contains("no-such-pre", e.Message);
    }
}
