using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Sampling;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;

namespace SharpInfer.Engine.Tests.Generation;

public class TextGeneratorTests
{
    /// <summary>The start of llama.cpp's greedy continuation of "Once upon a time" with stories260K.</summary>
    public const string GreedyStart = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";

    private static TextGenerator? Stories(int threads = 2)
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return null;
        var model = LlamaModel.Load(path, threads);
        return new TextGenerator(model, Tokenizer.Create(GgufVocabulary.Read(model.File)), contextLength: 512);
    }

    [Fact]
    public void GreedyContinuationMatchesLlamaCpp()
    {
        using var g = Stories();
        if (g == null) return;
        var (text, stats) = g.GenerateText("Once upon a time", new GenerationOptions { MaxTokens = 60, Sampling = SamplingParameters.Greedy });
        Assert.StartsWith(GreedyStart, "Once upon a time" + text);
        Assert.Equal(5, stats.PromptTokens);
        Assert.Equal(60, stats.GeneratedTokens);
        Assert.Equal(FinishReason.Length, stats.FinishReason);
    }

    [Fact]
    public void TheSameSeedGivesTheSameTextAndThreadsDoNotMatter()
    {
        var options = new GenerationOptions { MaxTokens = 80, Sampling = new SamplingParameters { Temperature = 1.0f, Seed = 1234 } };
        string a, b, c;
        using (var g = Stories(2)) { if (g == null) return; a = g.GenerateText("Tom and Sue", options).Text; b = g.GenerateText("Tom and Sue", options).Text; }
        using (var g = Stories(1)) c = g!.GenerateText("Tom and Sue", options).Text;
        Assert.Equal(a, b);
        Assert.Equal(a, c);
        using var g2 = Stories();
        Assert.NotEqual(a, g2!.GenerateText("Tom and Sue", options with { Sampling = options.Sampling with { Seed = 99 } }).Text);
    }

    [Fact]
    public void StopStringsEndGenerationBeforeTheString()
    {
        using var g = Stories();
        if (g == null) return;
        var (text, stats) = g.GenerateText("Once upon a time", new GenerationOptions { MaxTokens = 100, Sampling = SamplingParameters.Greedy, Stop = ["Lily"] });
        Assert.Equal(", there was a little girl named ", text);
        Assert.Equal(FinishReason.Stop, stats.FinishReason);
    }

    [Fact]
    public void StreamedPiecesConcatenateToTheWholeText()
    {
        using var g = Stories();
        if (g == null) return;
        var options = new GenerationOptions { MaxTokens = 40, Sampling = SamplingParameters.Greedy };
        var updates = g.Generate("Once upon a time", options).ToList();
        Assert.NotNull(updates[^1].Final);
        var tokens = updates.Where(u => u.Token != null).Select(u => u.Token!.Value).ToArray();
        Assert.Equal(40, tokens.Length);
        var prompt = g.Encode("Once upon a time");
        Assert.Equal(g.Tokenizer.Decode([.. prompt, .. tokens]), "Once upon a time" + string.Concat(updates.Select(u => u.Text)));
    }

    [Fact]
    public void APromptLongerThanTheContextIsRefusedWithItsLength()
    {
        using var g = Stories();
        if (g == null) return;
        string prompt = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 100));
        var e = Assert.Throws<PromptTooLongException>(() => g.GenerateText(prompt, new GenerationOptions()));
        Assert.Equal(512, e.ContextLength);
        Assert.True(e.PromptTokens > 512);
        // The generator still works afterwards: no pages leaked.
        Assert.StartsWith(GreedyStart[..40], "Once upon a time" + g.GenerateText("Once upon a time", new GenerationOptions { MaxTokens = 10, Sampling = SamplingParameters.Greedy }).Text);
    }

    [Fact]
    public void StopMatcherHoldsBackPossibleStopPrefixes()
    {
        var m = new StopMatcher(["</end>", "xyz"]);
        Assert.Equal("hello ", m.Append("hello </", out bool s1));
        Assert.False(s1);
        Assert.Equal("</", m.Append("x", out _)); // "x" may still become "xyz"
        Assert.Equal("x", m.Flush());
        var m2 = new StopMatcher(["</end>"]);
        Assert.Equal("a", m2.Append("a</en", out _));
        Assert.Equal("", m2.Append("d>b", out bool stopped));
        Assert.True(stopped);
    }
}
