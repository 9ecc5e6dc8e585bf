using System.CommandLine;
using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using SharpInfer.Kernels.Definitions;
using SharpInfer.Kernels.Diagnostics;
using SharpInfer.Kernels.Dispatch;
using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Cli.Commands;

/// <summary>
/// `sharpinfer bench kernels`: every solution of each definition against its float64 reference (FlashInfer-bench's
/// check, atol = rtol = 1e-2) and against the machine's read bandwidth measured in the same run: median latency,
/// bytes moved, GB/s, % of the STREAM-like read figure, speed-up over the scalar solution and over the reference.
/// </summary>
public static class BenchKernelsCommand
{
    /// <summary>Model shapes of the default set: SmolLM2-135M and TinyLlama-1.1B.</summary>
    private sealed record ModelShape(string Model, int Dim, int Ffn, int Heads, int KvHeads, int HeadDim, int Vocab, GgmlType[] GemmTypes);

    private static readonly ModelShape[] Models =
    [
        // SmolLM2's 576 columns are not a multiple of the K-quants' 256: its GGUFs use Q8_0 / Q4_0 / Q5_0 there.
        new("SmolLM2-135M", 576, 1536, 9, 3, 64, 49152, [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0]),
        new("TinyLlama-1.1B", 2048, 5632, 32, 4, 64, 32000, [GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K]),
    ];

    /// <summary>Definitions of the default run, each with the heads used where its name does not fix them.</summary>
    private static IEnumerable<(KernelShape Shape, (int Q, int Kv) Heads)> DefaultSet()
    {
        foreach (var m in Models)
        {
            var heads = (m.Heads, m.KvHeads);
            yield return (KernelShape.RmsNorm(m.Dim), heads);
            yield return (KernelShape.FusedAddRmsNorm(m.Dim), heads);
            yield return (KernelShape.SiluAndMul(m.Ffn), heads);
            yield return (KernelShape.Rope(RopeStyle.Interleaved, m.HeadDim), heads);
            yield return (KernelShape.Rope(RopeStyle.NeoX, m.HeadDim), heads);
            foreach (var t in m.GemmTypes) yield return (KernelShape.Gemm(m.Ffn, m.Dim, t), heads);   // ffn gate/up
            yield return (KernelShape.Gemm(m.Dim, m.Ffn, GgmlType.Q8_0), heads);                     // ffn down
            yield return (KernelShape.Gemm(m.Dim, m.Dim, GgmlType.Q8_0), heads);                     // attention q/o
            yield return (KernelShape.GqaPagedDecode(m.Heads, m.KvHeads, m.HeadDim, 16), heads);
            yield return (KernelShape.GqaPagedPrefill(m.Heads, m.KvHeads, m.HeadDim, 16), heads);
            yield return (KernelShape.Sampling(m.Vocab), heads);
        }
        yield return (KernelShape.Gemm(49152, 576, GgmlType.Q8_0), (9, 3)); // SmolLM2's output layer
    }

    public static Command Create()
    {
        var definition = new Option<string[]>("--definition", "-d") { Description = "Definition name(s) to run instead of the default set (e.g. gemm_q8_0_n1536_k576, rmsnorm_h4096)", AllowMultipleArgumentsPerToken = true };
        var filter = new Option<string?>("--filter", "-f") { Description = "Keep definitions whose name contains this text" };
        var threads = new Option<int>("--threads", "-t") { Description = "Worker threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var iterations = new Option<int>("--iterations", "-n") { Description = "Timed runs per solution (median reported; fewer when a run is slow)", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs before timing", DefaultValueFactory = _ => 3 };
        var warmupMs = new Option<int>("--warmup-ms") { Description = "Keep warming up at least this long, so the JIT's tier-1 code is what gets timed", DefaultValueFactory = _ => 150 };
        var prefillTokens = new Option<int>("--prefill-tokens") { Description = "Query tokens of the prefill attention request", DefaultValueFactory = _ => 64 };
        var tokens = new Option<int>("--tokens") { Description = "Rows M / batch size (decode: requests; prefill: query tokens)", DefaultValueFactory = _ => 1 };
        var kvLength = new Option<int>("--kv-len") { Description = "Keys per request for attention", DefaultValueFactory = _ => 512 };
        var bandwidthMiB = new Option<int>("--bandwidth-mib") { Description = "Buffer of the read-bandwidth probe (MiB)", DefaultValueFactory = _ => 256 };
        var json = new Option<bool>("--json") { Description = "Print a JSON array of FlashInfer Trace records instead of a table" };
        var command = new Command("kernels", "Benchmark every kernel solution against its float64 reference and the machine's memory bandwidth")
        {
            definition, filter, threads, iterations, warmup, warmupMs, tokens, prefillTokens, kvLength, bandwidthMiB, json,
        };
        command.SetAction(parse =>
        {
            var settings = new Settings(parse.GetValue(threads), parse.GetValue(iterations), parse.GetValue(warmup), parse.GetValue(warmupMs), parse.GetValue(tokens), parse.GetValue(prefillTokens), parse.GetValue(kvLength), parse.GetValue(bandwidthMiB));
            settings.Validate();
            var selected = Select(parse.GetValue(definition), parse.GetValue(filter));
            var output = parse.InvocationConfiguration.Output;
            // Progress only on an interactive terminal: captured or redirected error output stays clean.
            var progress = parse.InvocationConfiguration.Error == Console.Error && !Console.IsErrorRedirected ? Console.Error : null;
            var rows = Run(selected, settings, progress, out double bandwidth);
            if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(rows.Select(r => r.Trace).ToList(), TraceJson.Indented));
            else WriteTable(output, rows, bandwidth, settings);
            return CliRunner.Ok;
        });
        return command;
    }

    private sealed record Settings(int Threads, int Iterations, int Warmup, int WarmupMs, int Tokens, int PrefillTokens, int KvLength, int BandwidthMiB)
    {
        public void Validate()
        {
            if (Threads < 1) throw new CliInputException($"--threads must be at least 1, not {Threads}");
            if (Iterations < 1) throw new CliInputException($"--iterations must be at least 1, not {Iterations}");
            if (Warmup < 0) throw new CliInputException($"--warmup must not be negative, not {Warmup}");
            if (WarmupMs < 0) throw new CliInputException($"--warmup-ms must not be negative, not {WarmupMs}");
            if (PrefillTokens < 1) throw new CliInputException($"--prefill-tokens must be at least 1, not {PrefillTokens}");
            if (Tokens < 1) throw new CliInputException($"--tokens must be at least 1, not {Tokens}");
            if (KvLength < 1) throw new CliInputException($"--kv-len must be at least 1, not {KvLength}");
            if (BandwidthMiB < 1) throw new CliInputException($"--bandwidth-mib must be at least 1, not {BandwidthMiB}");
        }
    }

    private sealed record Row(KernelShape Shape, KernelSolution Solution, CheckResult Check, double LatencyMs, double ReferenceMs, long Bytes, double Bandwidth, Trace Trace)
    {
        public double GBps => Bytes / (LatencyMs * 1e-3) / 1e9;
    }

    private static List<(KernelShape, (int, int))> Select(string[]? names, string? filter)
    {
        List<(KernelShape Shape, (int, int) Heads)> set;
        if (names is { Length: > 0 })
            set = names.Select(n => (DefinitionNames.TryParse(n) ?? throw new CliInputException($"unknown definition '{n}' (SharpInfer implements gemm, rmsnorm, fused_add_rmsnorm, silu_and_mul, rope, gqa_paged and sampling names)"), DefaultHeads(n))).ToList();
        else set = DefaultSet().ToList();
        set = set.DistinctBy(s => s.Shape.Name).Where(s => filter == null || s.Shape.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
        if (set.Count == 0) throw new CliInputException($"no definition matches the filter '{filter}'");
        return set;
    }

    private static (int, int) DefaultHeads(string name) => DefinitionNames.TryParse(name) is { } s && s.Axes.TryGetValue("num_qo_heads", out long q) ? ((int)q, (int)s["num_kv_heads"]) : (32, 8);

    private static List<Row> Run(List<(KernelShape Shape, (int Q, int Kv) Heads)> selected, Settings settings, TextWriter? progress, out double bandwidth)
    {
        using var pool = new WorkerPool(settings.Threads);
        var context = new KernelContext(pool);
        var registry = KernelRegistry.Default;
        bandwidth = MemoryBandwidth.MeasureReadGBps(pool, (long)settings.BandwidthMiB << 20, passes: 3);
        var environment = new TraceEnvironment
        {
            Hardware = Hardware(),
            Libs = new() { ["dotnet"] = Environment.Version.ToString(), ["sharpinfer"] = typeof(KernelRegistry).Assembly.GetName().Version?.ToString() ?? "0", ["threads"] = settings.Threads.ToString(CultureInfo.InvariantCulture) },
        };
        var rows = new List<Row>();
        foreach (var (shape, heads) in selected)
        {
            progress?.Write($"\r{shape.Name,-60}");
            using var bench = KernelBenchCase.Create(shape, context, shape.Op == OpKind.GqaPagedPrefill ? settings.PrefillTokens : settings.Tokens, settings.KvLength, heads);
            double referenceMs = Time(bench.ComputeReference, Math.Min(3, settings.Iterations), 0, 0);
            var workload = new Workload { Uuid = Guid.NewGuid().ToString(), Axes = bench.VarAxes, Inputs = new(KernelDefinitions.Create(shape).Inputs.Keys.Select(k => KeyValuePair.Create(k, WorkloadInput.Random))) };
            foreach (var solution in registry.Runnable(shape))
            {
                CheckResult check;
                double latency = double.NaN;
                try
                {
                    check = bench.Check(solution);
                    if (check.Status == EvaluationStatus.Passed) latency = Time(() => bench.Run(solution), settings.Iterations, settings.Warmup, settings.WarmupMs);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    check = new CheckResult(EvaluationStatus.RuntimeError, double.NaN, double.NaN, e.Message.ReplaceLineEndings(" "));
                }
                var trace = new Trace
                {
                    Definition = shape.Name,
                    Solution = solution.Name,
                    Workload = workload,
                    Evaluation = new Evaluation
                    {
                        Status = check.Status,
                        Environment = environment,
                        Timestamp = DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture),
                        Log = check.Log,
                        Correctness = check.Status is EvaluationStatus.Passed or EvaluationStatus.IncorrectNumerical
                            ? new Correctness { MaxRelativeError = check.MaxRelativeError, MaxAbsoluteError = check.MaxAbsoluteError, Extra = check.Extra is null ? null : JsonSerializer.SerializeToElement(FiniteOnly(check.Extra)) }
                            : null,
                        Performance = check.Status == EvaluationStatus.Passed
                            ? new Performance
                            {
                                LatencyMs = latency, ReferenceLatencyMs = referenceMs, SpeedupFactor = referenceMs / latency,
                                Extra = new()
                                {
                                    ["bytes"] = JsonSerializer.SerializeToElement(bench.Bytes),
                                    ["bandwidth_gbps"] = JsonSerializer.SerializeToElement(Math.Round(bench.Bytes / (latency * 1e-3) / 1e9, 3)),
                                    ["stream_read_gbps"] = JsonSerializer.SerializeToElement(Math.Round(bandwidth, 3)),
                                    ["isa"] = JsonSerializer.SerializeToElement(solution.Isa.Name()),
                                },
                            }
                            : null,
                    },
                };
                rows.Add(new Row(shape, solution, check, latency, referenceMs, bench.Bytes, bandwidth, trace));
            }
        }
        progress?.Write($"\r{new string(' ', 60)}\r");
        return rows;
    }

    /// <summary>
    /// Median milliseconds per call over <paramref name="iterations"/> samples after <paramref name="warmup"/> calls;
    /// fewer samples (at least 3) when one takes long. Timed from raw timestamps (nanoseconds here), and a sample
    /// repeats the call until it lasts at least 20 microseconds: sub-microsecond kernels (rmsnorm) measured through
    /// TimeSpan's 100 ns ticks could read 0 ms, which made their GB/s infinite and the trace unwritable.
    /// </summary>
    private static double Time(Action action, int iterations, int warmup, int warmupMs)
    {
        long warmupEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency * warmupMs / 1000;
        for (int i = 0; i < warmup || (warmup > 0 && Stopwatch.GetTimestamp() < warmupEnd); i++) action();
        long minimumSample = Math.Max(1, Stopwatch.Frequency / 50_000);
        int repeats = 1;
        while (true) // calls per sample
        {
            long start = Stopwatch.GetTimestamp();
            for (int r = 0; r < repeats; r++) action();
            if (Stopwatch.GetTimestamp() - start >= minimumSample || repeats >= 1 << 20) break;
            repeats *= 4;
        }
        var times = new List<double>(iterations);
        long budgetEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 4; // about 0.25 s per solution
        for (int i = 0; i < iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int r = 0; r < repeats; r++) action();
            times.Add((Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency / repeats);
            if (i >= 2 && Stopwatch.GetTimestamp() > budgetEnd) break;
        }
        times.Sort();
        double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
        return Math.Max(median, 1e-9); // a positive latency keeps every derived rate finite
    }

    /// <summary>JSON has no infinity or NaN: such entries of a check's extra figures are left out of the trace.</summary>
    private static Dictionary<string, double> FiniteOnly(IReadOnlyDictionary<string, double> extra) =>
        extra.Where(kv => double.IsFinite(kv.Value)).ToDictionary(kv => kv.Key, kv => kv.Value);

    private static void WriteTable(TextWriter output, List<Row> rows, double bandwidth, Settings settings)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = Math.Max(console.Profile.Width, 200); // never wrap definition names
        var inv = CultureInfo.InvariantCulture;
        console.WriteLine($"{Hardware()}, {settings.Threads} threads; STREAM-like read: {bandwidth.ToString("F1", inv)} GB/s; tokens {settings.Tokens}, prefill tokens {settings.PrefillTokens}, kv-len {settings.KvLength}; atol = rtol = {KernelBenchCase.Atol.ToString(inv)}");
        console.WriteLine("GB/s counts the bytes a call must move; inputs that fit in cache can exceed the DRAM read figure. x scalar: the scalar solution's latency / this one's; x ref: the float64 reference's.");
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("definition").AddColumn("solution").AddColumn("isa").AddColumn("status")
            .AddColumn(new TableColumn("max abs").RightAligned()).AddColumn(new TableColumn("max rel").RightAligned())
            .AddColumn(new TableColumn("latency us").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned())
            .AddColumn(new TableColumn("GB/s").RightAligned()).AddColumn(new TableColumn("% bw").RightAligned())
            .AddColumn(new TableColumn("x scalar").RightAligned()).AddColumn(new TableColumn("x ref").RightAligned());
        foreach (var group in rows.GroupBy(r => r.Shape.Name))
        {
            var scalar = group.FirstOrDefault(r => r.Solution.Isa == Isa.Scalar && r.Check.Status == EvaluationStatus.Passed);
            foreach (var r in group)
            {
                bool passed = r.Check.Status == EvaluationStatus.Passed;
                string Num(double v, string format) => double.IsFinite(v) ? v.ToString(format, inv) : "-";
                table.AddRow(
                    Markup.Escape(r.Shape.Name), Markup.Escape(r.Solution.Name), r.Solution.Isa.Name(),
                    Markup.Escape(JsonSerializer.Serialize(r.Check.Status).Trim('"')),
                    Num(r.Check.MaxAbsoluteError, "0.0E+0"), Num(r.Check.MaxRelativeError, "0.0E+0"),
                    passed ? Num(r.LatencyMs * 1000, "F1") : "-",
                    r.Bytes.ToString("N0", inv),
                    passed ? Num(r.GBps, "F2") : "-",
                    passed ? Num(100 * r.GBps / bandwidth, "F1") : "-",
                    passed && scalar != null ? Num(scalar.LatencyMs / r.LatencyMs, "F2") : "-",
                    passed ? Num(r.ReferenceMs / r.LatencyMs, "F1") : "-");
            }
        }
        console.Write(table);
    }

    private static string Hardware()
    {
        string cpu = "cpu";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        return $"{cpu} ({Environment.ProcessorCount} cores, {IsaSupport.Describe()})";
    }
}
