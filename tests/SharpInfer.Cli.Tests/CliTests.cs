using System.CommandLine;
using SharpInfer.Cli;
using SharpInfer.Cli.Commands;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Loading;
using SharpInfer.Models.Synthetic;
using SharpInfer.Tests;

namespace SharpInfer.Cli.Tests;

/// <summary>The `sharpinfer` commands run in-process with captured output, as a user runs them.</summary>
[Collection("environment")] // some tests change environment variables
public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) =>
        CliHarness.Run(new RootCommand { GenerateCommand.Create(), InfoCommand.Create(), CreateModelCommand.Create() }, args);

    private static void AssertOneLineError((int Code, string Out, string Err) r, string expectedPart) => CliHarness.AssertOneLineError(r, expectedPart);

    [Fact]
    public void GenerateGreedyPrintsLlamaCppsContinuationAndAStatsLine()
    {
        string? model = TestEnvironment.Model("stories260K.gguf");
        if (model == null) return;
        var r = Run("generate", "Once upon a time", "--model", model, "--max-tokens", "60", "--temperature", "0");
        Assert.Equal(0, r.Code);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.", r.Out);
        Assert.Matches(@"^prompt: 5 tokens, [\d.]+ tok/s \| generation: 60 tokens, [\d.]+ tok/s", r.Err);
    }

    [Fact]
    public void InfoShowsTheArchitectureAndTensors()
    {
        string? model = TestEnvironment.Model("stories260K.gguf");
        if (model == null) return;
        var r = Run("info", model);
        Assert.Equal(0, r.Code);
        Assert.Contains("llama", r.Out);
        Assert.Contains("blk.4.ffn_down.weight", r.Out);
        Assert.Contains("64 x 172", r.Out);
    }

    [Fact]
    public void BadFilesGiveOneLineAndExitCode2()
    {
        string dir = Directory.CreateTempSubdirectory("sharpinfer-cli").FullName;
        try
        {
            string good = Path.Combine(dir, "good.gguf");
            RandomModelWriter.Write(good, new ModelShape("t", 64, 1, 2, 1, 128, 300, 64), GgmlType.F32);
            byte[] bytes = File.ReadAllBytes(good);

            string truncated = Path.Combine(dir, "truncated.gguf");
            File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
            AssertOneLineError(Run("generate", "hi", "--model", truncated), "truncated.gguf");

            string magic = Path.Combine(dir, "magic.gguf");
            var m = (byte[])bytes.Clone(); m[0] = (byte)'Q';
            File.WriteAllBytes(magic, m);
            AssertOneLineError(Run("info", magic), "magic");

            AssertOneLineError(Run("generate", "hi", "--model", Path.Combine(dir, "absent.gguf")), "not found");
            AssertOneLineError(Run("generate", "hi", "--model", good, "--top-p", "3"), "top-p");
            AssertOneLineError(Run("generate", "hi", "--model", good, "--max-tokens", "nope"), "nope");
            string longPrompt = string.Concat(Enumerable.Repeat("abc def ", 200));
            AssertOneLineError(Run("generate", longPrompt, "--model", good), "does not fit the context of 64 tokens");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void TheDefaultModelComesFromSharpinferModelsOrFailsClearlyOffline()
    {
        string? stories = TestEnvironment.Model("stories260K.gguf");
        if (stories == null) return;
        string? savedModels = Environment.GetEnvironmentVariable(ModelLocator.ModelsVariable);
        string? savedCache = Environment.GetEnvironmentVariable(ModelLocator.CacheVariable);
        string emptyCache = Directory.CreateTempSubdirectory("sharpinfer-cache").FullName;
        try
        {
            Environment.SetEnvironmentVariable(ModelLocator.ModelsVariable, Path.GetDirectoryName(stories));
            Environment.SetEnvironmentVariable(ModelLocator.CacheVariable, emptyCache);
            var ok = Run("generate", "--max-tokens", "20", "--temperature", "0");
            Assert.Equal(0, ok.Code);
            Assert.StartsWith("Once upon a time, there was", ok.Out);

            // No models folder, an empty cache and a hub that cannot be reached: exit 2 and say what to pass.
            Environment.SetEnvironmentVariable(ModelLocator.ModelsVariable, null);
            var locator = new ModelLocator { CacheDirectory = emptyCache, HubAddress = new Uri("http://127.0.0.1:9/") };
            var e = Assert.Throws<ModelNotFoundException>(() => locator.Resolve(null));
            Assert.Contains("--model", e.Message);
            Assert.Contains(ModelLocator.ModelsVariable, e.Message);
            Assert.Contains("stories260K.gguf", e.Message);
            Assert.Empty(Directory.GetFiles(emptyCache, "*.gguf", SearchOption.AllDirectories));
        }
        finally
        {
            Environment.SetEnvironmentVariable(ModelLocator.ModelsVariable, savedModels);
            Environment.SetEnvironmentVariable(ModelLocator.CacheVariable, savedCache);
            Directory.Delete(emptyCache, recursive: true);
        }
    }

    [Fact]
    public void CreateModelWritesALoadableRandomModel()
    {
        string path = Path.Combine(Path.GetTempPath(), $"sharpinfer-create-{Guid.NewGuid():N}.gguf");
        try
        {
            var r = Run("create-model", "--shape", "stories260k", "--type", "f32", "--output", path);
            Assert.Equal(0, r.Code);
            var gen = Run("generate", "hello", "--model", path, "--max-tokens", "5", "--seed", "1");
            Assert.Equal(0, gen.Code);
            Assert.Contains("generation: 5 tokens", gen.Err);
            AssertOneLineError(Run("create-model", "--shape", "gpt-9", "--output", path), "gpt-9");
            // Its FFN width 172 is not a whole number of 32-value blocks.
            AssertOneLineError(Run("create-model", "--shape", "stories260k", "--type", "q8_0", "--output", path + ".q8"), "not a multiple");
        }
        finally { File.Delete(path); }
    }
}
