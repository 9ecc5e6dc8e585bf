using System.CommandLine;
using System.Text.Json;
using SharpInfer.Cli;
using SharpInfer.Cli.Commands;

namespace SharpInfer.Cli.Tests;

/// <summary>`bench kernels` on tiny selections: checks and output shape only, never timings.</summary>
public class BenchKernelsCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) =>
        CliHarness.Run(new RootCommand { new Command("bench") { BenchKernelsCommand.Create() } },
            ["bench", "kernels", "--iterations", "2", "--warmup", "1", "--warmup-ms", "0", "--prefill-tokens", "3", "--bandwidth-mib", "8", "--threads", "2", .. args]);

    [Fact]
    public void TableShowsEverySolutionOfTheFilteredDefinitionsPassing()
    {
        var (code, stdout, stderr) = Run("--filter", "rmsnorm_h576");
        Assert.True(code == 0, stderr);
        Assert.Contains("STREAM-like read", stdout);
        Assert.Contains("fused_add_rmsnorm_h576", stdout);
        Assert.Contains("rmsnorm_scalar", stdout);
        Assert.Contains("rmsnorm_tensorprimitives", stdout);
        Assert.Contains("PASSED", stdout);
        Assert.DoesNotContain("INCORRECT", stdout);
    }

    [Fact]
    public void JsonIsAnArrayOfTraceRecords()
    {
        // rmsnorm_h64 runs in well under a microsecond: its latency must still be positive and its GB/s a number.
        var (code, stdout, stderr) = Run("--definition", "silu_and_mul_i100", "gemm_q4_0_n40_k64", "gqa_paged_decode_h4_kv2_d16_ps4", "top_k_top_p_sampling_from_probs_v500", "rope_neox_d32", "rmsnorm_h64", "--kv-len", "20", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var traces = doc.RootElement.EnumerateArray().ToList();
        Assert.Contains(traces, t => t.GetProperty("definition").GetString() == "gemm_q4_0_n40_k64" && t.GetProperty("solution").GetString() == "gemm_q4_0_matmul");
        Assert.Contains(traces, t => t.GetProperty("definition").GetString() == "gqa_paged_decode_h4_kv2_d16_ps4");
        Assert.Contains(traces, t => t.GetProperty("definition").GetString() == "top_k_top_p_sampling_from_probs_v500");
        foreach (var t in traces)
        {
            var evaluation = t.GetProperty("evaluation");
            Assert.Equal("PASSED", evaluation.GetProperty("status").GetString());
            Assert.True(evaluation.GetProperty("correctness").TryGetProperty("max_relative_error", out _));
            Assert.True(evaluation.GetProperty("correctness").TryGetProperty("max_absolute_error", out _));
            var performance = evaluation.GetProperty("performance");
            foreach (string field in new[] { "latency_ms", "reference_latency_ms", "speedup_factor" }) Assert.True(performance.TryGetProperty(field, out _), field);
            Assert.True(performance.GetProperty("latency_ms").GetDouble() > 0);
            Assert.Equal(JsonValueKind.Number, performance.GetProperty("bandwidth_gbps").ValueKind); // extra fields sit beside the standard ones
            Assert.True(evaluation.GetProperty("environment").TryGetProperty("hardware", out _));
            Assert.True(evaluation.GetProperty("environment").TryGetProperty("libs", out _));
            Assert.True(t.GetProperty("workload").TryGetProperty("axes", out _));
        }
    }

    [Theory]
    [InlineData("--definition", "mla_paged_decode_h16_ckv512_kpe64_ps1")]
    [InlineData("--filter", "no_such_kernel")]
    [InlineData("--definition", "gemm_q4_k_n8_k100")]
    public void BadSelectionsAreOneLineErrors(string option, string value)
    {
        var (code, _, stderr) = Run(option, value);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", stderr.TrimEnd());
        Assert.DoesNotContain('\n', stderr.TrimEnd());
    }
}
