using System.CommandLine;
using System.Text.Json;
using SharpInfer.Cli.Commands;
using SharpInfer.Tests;

namespace SharpInfer.Cli.Tests;

public class PlanCommandTests
{
    private static (int ExitCode, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = PlanCommand.Create().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Llama65BJsonHasStagesFitStepTimeThroughputAndVerdict()
    {
        var (code, stdout, stderr) = Run("--model", "llama-65b", "--gpus", "64", "--gpu", "a100-80gb", "--json");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        var config = root.GetProperty("config");
        int t = config.GetProperty("t").GetInt32(), p = config.GetProperty("p").GetInt32(), d = config.GetProperty("d").GetInt32();
        Assert.Equal(64, t * p * d);
        Assert.Equal(0, 80 % p);
        var stages = root.GetProperty("memory").GetProperty("stages");
        Assert.Equal(p, stages.GetArrayLength());
        foreach (var stage in stages.EnumerateArray())
        {
            double parts = stage.GetProperty("weightsGiB").GetDouble() + stage.GetProperty("gradientsGiB").GetDouble()
                + stage.GetProperty("optimizerGiB").GetDouble() + stage.GetProperty("activationsGiB").GetDouble() + stage.GetProperty("reservedGiB").GetDouble();
            Assert.Equal(stage.GetProperty("totalGiB").GetDouble(), parts, 2);
        }
        Assert.True(root.GetProperty("fits").GetBoolean());
        double step = root.GetProperty("stepTime").GetProperty("totalSeconds").GetDouble();
        double tokensPerSecond = root.GetProperty("tokensPerSecond").GetDouble();
        Assert.True(step > 0);
        Assert.Equal(config.GetProperty("B").GetInt32() * 2048 / step, tokensPerSecond, 0);
        var bpipe = root.GetProperty("bpipe");
        Assert.False(string.IsNullOrEmpty(bpipe.GetProperty("verdict").GetString()));
        Assert.True(bpipe.GetProperty("speedup").GetDouble() < 1.05);
        Assert.True(bpipe.GetProperty("reasons").GetArrayLength() > 0);
        Assert.True(root.GetProperty("choices").GetArrayLength() > 0);
    }

    [Fact]
    public void Gpt3_96BWithoutFlashAttentionIsWorthIt()
    {
        var (code, stdout, _) = Run("--model", "gpt3-96b", "--gpus", "48", "--gpu", "a100-80gb", "--flash-attention", "off", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        var bpipe = doc.RootElement.GetProperty("bpipe");
        Assert.True(bpipe.GetProperty("microBatchWithBPipe").GetInt32() > bpipe.GetProperty("microBatch").GetInt32());
        Assert.True(bpipe.GetProperty("speedup").GetDouble() > 1.0);
    }

    [Fact]
    public void GgufFileOnDiskIsPlanned()
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return;
        var (code, stdout, stderr) = Run("--model", path, "--gpus", "8", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var model = doc.RootElement.GetProperty("model");
        Assert.Equal(5, model.GetProperty("layers").GetInt32());
        Assert.Equal(64, model.GetProperty("hidden").GetInt32());
        Assert.Equal(4, model.GetProperty("kvHeads").GetInt32());
        Assert.True(doc.RootElement.GetProperty("fits").GetBoolean());
    }

    [Fact]
    public void HuggingFaceConfigFileIsPlanned()
    {
        string dir = Directory.CreateTempSubdirectory("plan-config").FullName;
        try
        {
            string path = Path.Combine(dir, "config.json");
            File.WriteAllText(path, """{"hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,"intermediate_size":11008,"vocab_size":32000,"max_position_embeddings":2048}""");
            var (code, stdout, _) = Run("--model", path, "--gpus", "8", "--json");
            Assert.Equal(0, code);
            Assert.Equal(32, JsonDocument.Parse(stdout).RootElement.GetProperty("model").GetProperty("layers").GetInt32());
            File.WriteAllText(path, """{"hidden_size":4096}""");
            var bad = Run("--model", path, "--gpus", "8");
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains("num_hidden_layers", bad.Err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("--model", "gpt-7", "--gpus", "8")]
    [InlineData("--model", "llama-65b", "--gpus", "64", "--tp", "8", "--pp", "4", "--dp", "3")]
    [InlineData("--model", "llama-65b", "--gpus", "60", "--tp", "8")]
    [InlineData("--model", "llama-65b", "--gpus", "56", "--tp", "8", "--pp", "7")]
    [InlineData("--model", "llama-65b", "--gpus", "64", "--gpu", "tpu")]
    [InlineData("--model", "llama-65b", "--gpus", "many")]
    [InlineData("--model", "llama-65b", "--recompute", "sometimes")]
    [InlineData("--model", "llama-65b", "--frobnicate")]
    [InlineData("--model", "/no/such/model.gguf")]
    public void BadInputGivesOneErrorLineAndExitCode2(params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        string[] lines = stderr.TrimEnd().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void TableOutputShowsMemoryTimeAndVerdict()
    {
        var (code, stdout, _) = Run("--model", "llama-7b", "--gpus", "16", "--gpu", "h100", "--search");
        Assert.Equal(0, code);
        Assert.Contains("Memory per GPU", stdout);
        Assert.Contains("Step time", stdout);
        Assert.Contains("BPipe verdict", stdout);
        Assert.Contains("Search", stdout);
        Assert.Contains("chosen:", stdout);
    }

    [Fact]
    public void ChartIsAPng()
    {
        string path = Path.Combine(Path.GetTempPath(), $"plan-{Guid.NewGuid():N}.png");
        try
        {
            var (code, _, stderr) = Run("--model", "gpt3-96b", "--gpus", "48", "--flash-attention", "off", "--chart", path, "--json");
            Assert.True(code == 0, stderr);
            byte[] bytes = File.ReadAllBytes(path);
            Assert.True(bytes.Length > 1000);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
        finally { File.Delete(path); }
    }
}
