using System.Text.Json;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Sampling;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;

namespace SharpInfer.Engine.Tests.Generation;

/// <summary>
/// Token-for-token agreement with llama.cpp's greedy decoding of stories260K. The golden ids were produced by
/// llama.cpp itself (benchmarks/SharpInfer.Benchmarks `golden` command, F32 KV cache).
/// </summary>
public class LlamaCppGoldenTests
{
    private sealed record Golden(string prompt, int[] prompt_ids, int[] generated_ids, string text);

    private static string GoldenPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string p = Path.Combine(dir.FullName, "benchmarks", "SharpInfer.Benchmarks", "golden", "stories260K-greedy.json");
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException("benchmarks/SharpInfer.Benchmarks/golden/stories260K-greedy.json not found above the test binaries");
    }

    [Fact]
    public void GreedyTokensAndTextMatchLlamaCppOnEveryGoldenPrompt()
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return;
        var goldens = JsonSerializer.Deserialize<Golden[]>(File.ReadAllText(GoldenPath()))!;
        Assert.True(goldens.Length >= 5);
        using var model = LlamaModel.Load(path, 2);
        var tokenizer = Tokenizer.Create(GgufVocabulary.Read(model.File));
        using var generator = new TextGenerator(model, tokenizer, contextLength: 512);
        foreach (var g in goldens)
        {
            var ids = generator.Encode(g.prompt);
            Assert.Equal(g.prompt_ids, ids);
            var updates = generator.Generate(ids, new GenerationOptions { MaxTokens = g.generated_ids.Length, Sampling = SamplingParameters.Greedy }).ToList();
            int[] generated = updates.Where(u => u.Token != null).Select(u => u.Token!.Value).ToArray();
            Assert.Equal(g.generated_ids, generated);
            Assert.Equal(g.text, g.prompt + string.Concat(updates.Select(u => u.Text)));
        }
    }
}
