using System.Text.Json;
using SharpInfer.Tests;

namespace SharpInfer.Cli.Tests;

/// <summary>`sharpinfer bench engine` on stories260K, kept to a few seconds.</summary>
public class BenchEngineCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliHarness.RunBench(args);

    [Fact]
    public void BadOptionsGiveOneLineAndExitCode2()
    {
        CliHarness.AssertOneLineError(Run("bench", "engine", "--max-batch-tokens", "4"), "--max-batch-tokens 4");
        CliHarness.AssertOneLineError(Run("bench", "engine", "--requests", "0"), "--requests");
    }

    [Fact]
    public void SmallStepBudgetChunksEveryPromptAndOutputsStillEqualSequentialOnes()
    {
        string? model = TestEnvironment.Model("stories260K.gguf");
        if (model == null) return;
        // 40-token prompts with a 24-token step budget: every prompt is chunked, and the run must still match.
        var r = Run("bench", "engine", "--model", model, "--requests", "6", "--max-tokens", "12", "--prompt-tokens", "40",
            "--prefix-tokens", "0", "--max-batch-tokens", "24", "--json");
        Assert.True(r.Code == 0, r.Err + r.Out);
        using var doc = JsonDocument.Parse(r.Out);
        var batching = doc.RootElement.GetProperty("batching");
        Assert.True(batching.GetProperty("OutputsIdentical").GetBoolean());
        Assert.Equal(6, batching.GetProperty("Requests").GetInt32());
        Assert.True(batching.GetProperty("GeneratedTokens").GetInt64() > 6);
    }
}
