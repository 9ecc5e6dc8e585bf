using SharpInfer.Kernels.Definitions;
using SharpInfer.Tests;

namespace SharpInfer.Kernels.Tests.Definitions;

public class DefinitionJsonTests
{
    private static string? DefinitionsFolder => TestEnvironment.SharedFolder("flashinfer_trace", "definitions");
    private static string? WorkloadsFolder => TestEnvironment.SharedFolder("flashinfer_trace", "workloads");

    [Fact]
    public void EveryDatasetDefinitionLoadsAndRoundTrips()
    {
        if (DefinitionsFolder is not { } folder) return;
        var definitions = DefinitionLoader.LoadDirectory(folder);
        Assert.True(definitions.Count >= 100, $"only {definitions.Count} definitions");
        string[] opTypes = ["gemm", "gqa_paged", "gqa_ragged", "rmsnorm", "mla_paged", "mla_ragged", "moe", "dsa_paged", "gdn", "mamba_ssu", "rope", "sampling"];
        Assert.Equal(opTypes.Order(), definitions.Select(d => d.OpType).Distinct().Order());
        foreach (var d in definitions)
        {
            var again = TraceJson.ReadDefinition(TraceJson.Write(d), d.Name);
            Assert.Equal(d, again);
            Assert.Equal(TraceJson.Write(d), TraceJson.Write(again));
        }
    }

    [Fact]
    public void ReadingKeepsOrderScalarsAndUnknownFields()
    {
        if (DefinitionsFolder is not { } folder) return;
        var d = DefinitionLoader.Load(Path.Combine(folder, "gqa_paged", "gqa_paged_decode_h32_kv8_d128_ps1.json"));
        Assert.Equal(["q", "k_cache", "v_cache", "kv_indptr", "kv_indices", "sm_scale"], d.Inputs.Keys);
        Assert.Null(d.Inputs["sm_scale"].Shape);
        Assert.Equal(32, d.Const("num_qo_heads"));
        Assert.Equal(AxisSpec.VarType, d.Axes["batch_size"].Type);
        var gdn = DefinitionLoader.LoadDirectory(Path.Combine(folder, "gdn"));
        Assert.Contains(gdn, g => g.Inputs.Values.Any(t => t.Optional == true));

        string withExtra = TraceJson.Write(d).Replace("\"op_type\"", "\"future_field\": {\"a\": [1, 2]},\n  \"op_type\"");
        var extra = TraceJson.ReadDefinition(withExtra);
        Assert.Contains("future_field", TraceJson.Write(extra));
        Assert.NotEqual(d, extra);
        Assert.Equal(extra, TraceJson.ReadDefinition(TraceJson.Write(extra)));
    }

    [Theory]
    [InlineData("{\"name\": \"x\", \"op_type\": \"gemm\", \"axes\": {\"M\": {\"type\": \"const\", \"value\": \"big\"}}, \"inputs\": {}, \"outputs\": {}, \"reference\": \"\"}", "$.axes.M.value")]
    [InlineData("{\"name\": \"x\", \"op_type\": \"gemm\", \"axes\": {}, \"inputs\": {\"A\": {\"shape\": [\"M\"], \"dtype\": \"float16\"}}, \"outputs\": {}, \"reference\": \"\"}", "$.inputs.A.shape[0]: unknown axis 'M'")]
    [InlineData("{\"name\": \"x\", \"op_type\": \"gemm\", \"axes\": {\"M\": {\"type\": \"fixed\"}}, \"inputs\": {}, \"outputs\": {}, \"reference\": \"\"}", "$.axes.M.type")]
    [InlineData("{\"name\": \"x\", \"op_type\": \"gemm\", \"axes\": {\"M\": {\"type\": \"const\"}}, \"inputs\": {}, \"outputs\": {}, \"reference\": \"\"}", "$.axes.M: const axis without a value")]
    [InlineData("{\"op_type\": \"gemm\", \"axes\": {}, \"inputs\": {}, \"outputs\": {}, \"reference\": \"\"}", "name")]
    [InlineData("{\"name\": \"x\", \"op_type\": \"gemm\", \"axes\": {}, \"inputs\": {\"A\": {\"shape\": null, \"dtype\": \"int32\"}}, \"outputs\": {\"A\": {\"shape\": null, \"dtype\": \"int32\"}}, \"reference\": \"\"}", "$.outputs.A: name also used by an input")]
    [InlineData("{\"name\": \"x\", \"op_type\": \"gemm\",, }", "$")]
    public void BadJsonGivesOneLineNamingFileAndPath(string json, string expected)
    {
        string dir = Directory.CreateTempSubdirectory("defs").FullName;
        try
        {
            string file = Path.Combine(dir, "bad.json");
            File.WriteAllText(file, json);
            var e = Assert.Throws<DefinitionFormatException>(() => DefinitionLoader.LoadDirectory(dir));
            Assert.StartsWith(file + ": ", e.Message);
            Assert.Contains(expected, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void WorkloadLinesRoundTrip()
    {
        if (WorkloadsFolder is not { } folder) return;
        int lines = 0;
        foreach (string file in Directory.EnumerateFiles(folder, "*.jsonl", SearchOption.AllDirectories))
            foreach (var trace in TraceJson.ReadTraceFile(file))
            {
                lines++;
                Assert.Null(trace.Solution);
                Assert.Null(trace.Evaluation);
                Assert.Equal(trace, TraceJson.ReadTraceLine(TraceJson.WriteLine(trace)));
            }
        Assert.True(lines > 100);
        var gqa = TraceJson.ReadTraceFile(Path.Combine(folder, "gqa_paged", "gqa_paged_decode_h32_kv8_d128_ps1.jsonl"))[0];
        Assert.Equal(WorkloadInput.SafetensorsType, gqa.Workload.Inputs["kv_indptr"].Type);
        Assert.Equal("kv_indptr", gqa.Workload.Inputs["kv_indptr"].TensorKey);
    }

    [Fact]
    public void ATraceWithInfiniteOrNaNErrorsIsWrittenAndReadBack()
    {
        // A numerically wrong solution can have an infinite relative error (zero reference) or NaN outputs.
        var trace = new Trace
        {
            Definition = "rmsnorm_h576",
            Solution = "broken",
            Workload = new Workload { Uuid = "u2", Axes = new() { ["batch_size"] = 1 }, Inputs = new() { ["hidden_states"] = WorkloadInput.Random } },
            Evaluation = new Evaluation
            {
                Status = EvaluationStatus.IncorrectNumerical,
                Environment = new TraceEnvironment { Hardware = "cpu", Libs = new() { ["dotnet"] = "10.0" } },
                Timestamp = "2025-01-01T00:00:00Z",
                Correctness = new Correctness { MaxRelativeError = double.PositiveInfinity, MaxAbsoluteError = double.NaN },
            },
        };
        string line = TraceJson.WriteLine(trace);
        Assert.Contains("\"max_relative_error\":\"Infinity\"", line);
        var back = TraceJson.ReadTraceLine(line);
        Assert.Equal(double.PositiveInfinity, back.Evaluation!.Correctness!.MaxRelativeError);
        Assert.True(double.IsNaN(back.Evaluation.Correctness.MaxAbsoluteError));
    }

    [Fact]
    public void TracesAndSolutionsRoundTripWithTheirFieldNames()
    {
        var trace = new Trace
        {
            Definition = "rmsnorm_h576",
            Solution = "rmsnorm_v512",
            Workload = new Workload { Uuid = "u1", Axes = new() { ["batch_size"] = 1 }, Inputs = new() { ["hidden_states"] = WorkloadInput.Random, ["eps"] = WorkloadInput.Scalar(1e-5) } },
            Evaluation = new Evaluation
            {
                Status = EvaluationStatus.Passed,
                Environment = new TraceEnvironment { Hardware = "cpu", Libs = new() { ["dotnet"] = "10.0" } },
                Timestamp = "2025-01-01T00:00:00Z",
                Correctness = new Correctness { MaxRelativeError = 1e-6, MaxAbsoluteError = 2e-7 },
                Performance = new Performance { LatencyMs = 0.01, ReferenceLatencyMs = 0.1, SpeedupFactor = 10 },
            },
        };
        string line = TraceJson.WriteLine(trace);
        foreach (string field in new[] { "\"status\":\"PASSED\"", "\"max_relative_error\"", "\"max_absolute_error\"", "\"latency_ms\"", "\"reference_latency_ms\"", "\"speedup_factor\"", "\"hardware\"", "\"libs\"", "\"timestamp\"" })
            Assert.Contains(field, line);
        Assert.Equal(trace, TraceJson.ReadTraceLine(line));

        var solution = Kernels.Dispatch.KernelRegistry.Default.Resolve("rmsnorm_h576").ToSolution("rmsnorm_h576");
        string json = TraceJson.Write(solution);
        Assert.Contains("\"target_hardware\"", json);
        Assert.Contains("\"destination_passing_style\": true", json);
        Assert.Equal(solution, TraceJson.ReadSolution(json));
    }
}
