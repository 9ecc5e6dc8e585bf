using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using LLama;
using LLama.Common;
using LLama.Native;
using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Synthetic;
using Spectre.Console;

namespace SharpInfer.Benchmarks;

/// <summary>
/// SharpInfer against llama.cpp (LLamaSharp, CPU backend) on the same random-weight GGUF files, batch 1:
/// prompt processing (one decode of <c>pp</c> tokens) and generation (<c>tg</c> single-token decodes after the
/// prompt, each fed the argmax of the previous logits). Both engines run in this process, alternately per run,
/// so drift of the machine hits both; each (file, threads) cell gets a warm-up run of each engine, then
/// <c>runs</c> timed runs of each, and the medians are reported.
/// </summary>
internal static class CompareCommand
{
    private const int PageSize = 16;

    public static int Run(string[] args)
    {
        var shapes = new List<string> { "smollm2-135m", "tinyllama-1.1b" };
        var types = new List<string> { "f32", "f16", "q8_0", "q4_0" };
        var threadCounts = new List<int> { 1, 2 };
        int pp = 128, tg = 64, runs = 3, seed = 1234;
        string modelsDir = Path.Combine(Path.GetTempPath(), "sharpinfer-bench-models");
        string? jsonPath = null, markdownPath = null;
        AvxLevel? avx = null;
        bool verbose = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "--shapes": shapes = SplitList(Next()); break;
                case "--types": types = SplitList(Next()).Select(t => t.ToLowerInvariant()).ToList(); break;
                case "--threads": threadCounts = SplitList(Next()).Select(ParsePositive).ToList(); break;
                case "--pp": pp = ParsePositive(Next()); break;
                case "--tg": tg = ParsePositive(Next()); break;
                case "--runs": runs = ParsePositive(Next()); break;
                case "--seed": seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--models-dir": modelsDir = Next(); break;
                case "--json": jsonPath = Next(); break;
                case "--markdown": markdownPath = Next(); break;
                case "--verbose": verbose = true; break;
                case "--avx": avx = GoldenCommand.ParseAvx(Next()); break;
                default:
                    Console.Error.WriteLine($"compare: unknown option '{a}'");
                    return 2;
            }
        }

        var cells = new List<(ModelShape Shape, GgmlType Type)>();
        foreach (string name in shapes)
        {
            if (!ModelShape.Presets.TryGetValue(name, out var shape))
            {
                Console.Error.WriteLine($"compare: unknown shape '{name}' (known: {string.Join(", ", ModelShape.Presets.Keys)})");
                return 2;
            }
            foreach (string t in types)
            {
                if (ParseType(t) is not { } type)
                {
                    Console.Error.WriteLine($"compare: unknown type '{t}' (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)");
                    return 2;
                }
                cells.Add((shape, type));
            }
        }
        if (cells.Count == 0 || threadCounts.Count == 0)
        {
            Console.Error.WriteLine("compare: nothing to run");
            return 2;
        }

        // Native library selection has to happen before the first native call. llama.cpp's own log is kept out of
        // the way; the lines that say which attention path and KV type it chose are kept for the report.
        var llamaNotes = new LlamaLogNotes(verbose);
        NativeLibraryConfig.All.WithLogCallback(llamaNotes.OnLog);
        if (avx is { } level)
            NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithAvx(level).WithAutoFallback(false);

        // Models first (writing TinyLlama F32 takes a while): all files exist before any timing starts.
        Directory.CreateDirectory(modelsDir);
        var files = cells.Select(c => (c.Shape, c.Type, Path: EnsureModel(modelsDir, c.Shape, c.Type, seed))).ToList();

        var settings = new Settings(pp, tg, runs, seed, threadCounts.ToArray(), PageSize);
        Machine? machine = null;
        var rows = new List<Row>();
        foreach (var (shape, type, path) in files)
        {
            int[] prompt = PromptIds(shape.VocabSize, pp, seed);
            ModelParams LlamaParams(int threads) => new(path)
            {
                ContextSize = (uint)(pp + tg),
                BatchSize = (uint)Math.Max(512, pp), // the whole prompt in one llama_decode
                Threads = threads,
                BatchThreads = threads,
                GpuLayerCount = 0,
                SeqMax = 1,
                // TypeK / TypeV / FlashAttention / UBatchSize left at their defaults (llama.cpp's: f16 KV, flash attention auto).
            };
            Console.Error.WriteLine($"loading {Path.GetFileName(path)} into llama.cpp");
            using var weights = LLamaWeights.LoadFromFile(LlamaParams(threadCounts[0]));
            machine ??= Machine.Describe();
            foreach (int threads in threadCounts)
            {
                using var context = weights.CreateContext(LlamaParams(threads));
                using var model = LlamaModel.Load(path, threads);
                var llama = new LlamaRunner(context.NativeHandle, prompt, tg);
                var sharp = new SharpRunner(model, prompt, tg);

                Console.Error.Write($"{shape.Name} {type} threads={threads}: warm-up");
                llama.RunOnce();
                sharp.RunOnce();
                var llamaRuns = new List<Timing>();
                var sharpRuns = new List<Timing>();
                for (int r = 0; r < runs; r++)
                {
                    Console.Error.Write($", run {r + 1}");
                    llamaRuns.Add(llama.RunOnce());
                    sharpRuns.Add(sharp.RunOnce());
                }
                var row = new Row(shape.Name, type.ToString().ToUpperInvariant(), threads, Path.GetFileName(path), new FileInfo(path).Length,
                    Summary.Of(llamaRuns, pp, tg), Summary.Of(sharpRuns, pp, tg));
                rows.Add(row);
                Console.Error.WriteLine($"  pp {row.LlamaCpp.PpTokensPerSecond:F1} vs {row.SharpInfer.PpTokensPerSecond:F1} tok/s, " +
                    $"tg {row.LlamaCpp.TgTokensPerSecond:F1} vs {row.SharpInfer.TgTokensPerSecond:F1} tok/s (llama.cpp vs SharpInfer)");
            }
        }

        machine = machine! with { LlamaCppKv = llamaNotes.KvType ?? "default", LlamaCppFlashAttention = llamaNotes.FlashAttention ?? "default (auto)" };
        var report = new Report(machine, settings, rows, llamaNotes.Lines.ToArray());
        PrintTable(report);
        if (markdownPath is not null)
        {
            WriteFile(markdownPath, Markdown(report));
            Console.Error.WriteLine($"wrote {Path.GetFullPath(markdownPath)}");
        }
        if (jsonPath is not null)
        {
            var options = new JsonSerializerOptions
            {
                WriteIndented = true,
                PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
                Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            };
            WriteFile(jsonPath, JsonSerializer.Serialize(report, options) + "\n");
            Console.Error.WriteLine($"wrote {Path.GetFullPath(jsonPath)}");
        }
        return 0;
    }

    // ---- models ----

    /// <summary>
    /// The path of the random-weight model for (shape, type, seed) under <paramref name="dir"/>, written by
    /// SharpInfer's GGUF writer unless a complete copy is already there. The writer writes to a temporary name and
    /// renames, so a file under the real name was written to the end; it is still checked (name, tensor count, the
    /// type of a layer matrix and a length that ends exactly after the last tensor) before it is reused.
    /// </summary>
    private static string EnsureModel(string dir, ModelShape shape, GgmlType type, int seed)
    {
        string path = Path.Combine(dir, $"{shape.Name}-{type.ToString().ToLowerInvariant()}-seed{seed}.gguf");
        if (File.Exists(path))
        {
            string? problem = CheckModel(path, shape, type);
            if (problem is null)
            {
                Console.Error.WriteLine($"reusing {path} ({new FileInfo(path).Length:N0} bytes)");
                return path;
            }
            Console.Error.WriteLine($"{path}: {problem}; writing it again");
        }
        Console.Error.Write($"writing {path} ({shape.Name}, {type}) ... ");
        var clock = Stopwatch.StartNew();
        RandomModelWriter.Write(path, shape, type, seed);
        Console.Error.WriteLine($"{new FileInfo(path).Length:N0} bytes in {clock.Elapsed.TotalSeconds:F1} s");
        string? error = CheckModel(path, shape, type);
        if (error is not null) throw new InvalidOperationException($"{path}: freshly written model fails its check: {error}");
        return path;
    }

    private static string? CheckModel(string path, ModelShape shape, GgmlType type)
    {
        try
        {
            using var file = GgufFile.Open(path);
            string expectedName = $"random {shape.Name} {type}";
            if (file.TryGetString("general.name") != expectedName) return $"general.name is not '{expectedName}'";
            int expectedTensors = 1 + shape.Layers * 9 + 1 + (shape.TiedEmbeddings ? 0 : 1);
            if (file.Tensors.Count != expectedTensors) return $"{file.Tensors.Count} tensors, expected {expectedTensors}";
            if (file.FindTensor("blk.0.ffn_down.weight")?.Type != type) return $"layer matrices are not {type}";
            var last = file.Tensors.MaxBy(t => t.Offset)!;
            long end = file.DataOffset + (long)last.Offset + last.ByteSize;
            long padded = (end + file.Alignment - 1) / file.Alignment * file.Alignment;
            if (file.Length != padded) return $"{file.Length:N0} bytes, expected {padded:N0}";
            return null;
        }
        catch (GgufFormatException e)
        {
            return e.Message;
        }
    }

    /// <summary>Prompt ids drawn from the ordinary pieces of the synthetic vocabulary (past the 3 control and 256 byte tokens).</summary>
    private static int[] PromptIds(int vocab, int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(259, vocab)).ToArray();
    }

    // ---- the two engines ----

    internal readonly record struct Timing(double PpSeconds, double TgSeconds);

    /// <summary>
    /// llama.cpp through LLamaSharp's lowest level: an <see cref="LLamaBatch"/> decoded on the context handle, logits
    /// read with GetLogitsIth (which also waits for the decode to finish) and an argmax of our own. The KV cache is
    /// cleared before each run, as llama-bench does.
    /// </summary>
    private sealed class LlamaRunner(SafeLLamaContextHandle ctx, int[] prompt, int tg)
    {
        private readonly LLamaToken[] _prompt = prompt.Select(t => (LLamaToken)t).ToArray();
        private readonly LLamaBatch _batch = new();

        public Timing RunOnce()
        {
            ctx.MemoryClear(false);
            _batch.Clear();
            var clock = Stopwatch.StartNew();
            int index = _batch.AddRange(_prompt, 0, LLamaSeqId.Zero, true);
            Check(ctx.Decode(_batch), "prompt");
            int token = ArgMax(ctx.GetLogitsIth(index));
            double ppSeconds = clock.Elapsed.TotalSeconds;

            clock.Restart();
            int pos = _prompt.Length;
            for (int step = 0; step < tg; step++)
            {
                _batch.Clear();
                index = _batch.Add((LLamaToken)token, pos++, LLamaSeqId.Zero, true);
                Check(ctx.Decode(_batch), $"decode step {step}");
                token = ArgMax(ctx.GetLogitsIth(index));
            }
            return new Timing(ppSeconds, clock.Elapsed.TotalSeconds);
        }

        private static void Check(DecodeResult result, string what)
        {
            if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed at {what}: {result}");
        }
    }

    /// <summary>
    /// SharpInfer: the prompt as one <see cref="LlamaModel.Forward"/> (the model cuts it into chunks of its
    /// MaxTokensPerForward), then one Forward per generated token, over a KV cache created for each run.
    /// </summary>
    private sealed class SharpRunner(LlamaModel model, int[] prompt, int tg)
    {
        private readonly float[] _logits = new float[model.Config.VocabSize];

        public Timing RunOnce()
        {
            int length = prompt.Length + tg;
            int pageCount = (length + PageSize - 1) / PageSize;
            using var cache = model.CreateKvCache(pageCount, PageSize);
            int[] pages = Enumerable.Range(0, pageCount).ToArray();
            int[] next = new int[1], nextIndptr = [0, 1];

            var clock = Stopwatch.StartNew();
            model.Forward(prompt, [0, prompt.Length], PageTable.ForSingle(pages, prompt.Length, PageSize), cache, _logits);
            int token = ArgMax(_logits);
            double ppSeconds = clock.Elapsed.TotalSeconds;

            clock.Restart();
            for (int step = 0; step < tg; step++)
            {
                next[0] = token;
                model.Forward(next, nextIndptr, PageTable.ForSingle(pages, prompt.Length + step + 1, PageSize), cache, _logits);
                token = ArgMax(_logits);
            }
            return new Timing(ppSeconds, clock.Elapsed.TotalSeconds);
        }
    }

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    // ---- results ----

    internal sealed record Settings(int Pp, int Tg, int Runs, int Seed, int[] Threads, int SharpInferPageSize)
    {
        public string Batch => "1";
        public string SharpInferKv => "f32 (paged)";
        public string Method =>
            "pp: one decode of pp random prompt ids (same ids for both engines) until the last position's logits; " +
            "tg: tg single-token decodes after the prompt, each fed the argmax of the previous logits; " +
            "per (file, threads): one warm-up run of each engine, then the runs alternate llama.cpp / SharpInfer; medians; " +
            "KV cleared (llama.cpp) or recreated (SharpInfer) before each run";
    }

    internal sealed record Summary(double PpTokensPerSecond, double TgTokensPerSecond, double[] PpSeconds, double[] TgSeconds)
    {
        public static Summary Of(List<Timing> runs, int pp, int tg)
        {
            double[] ppSeconds = runs.Select(r => r.PpSeconds).ToArray();
            double[] tgSeconds = runs.Select(r => r.TgSeconds).ToArray();
            return new Summary(pp / Median(ppSeconds), tg / Median(tgSeconds),
                ppSeconds.Select(s => Math.Round(s, 6)).ToArray(), tgSeconds.Select(s => Math.Round(s, 6)).ToArray());
        }
    }

    internal sealed record Row(string Model, string Type, int Threads, string File, long FileBytes, Summary LlamaCpp, Summary SharpInfer)
    {
        public double PpRatio => SharpInfer.PpTokensPerSecond / LlamaCpp.PpTokensPerSecond;
        public double TgRatio => SharpInfer.TgTokensPerSecond / LlamaCpp.TgTokensPerSecond;
    }

    internal sealed record Machine(string Cpu, int LogicalCpus, string? PhysicalCores, string Isa, string DateUtc, string Os, string Dotnet,
        string LlamaSharpVersion, string LlamaCppVariant, string? LlamaSharpSelection, string? LlamaCppLibrary, string LlamaCppKv, string LlamaCppFlashAttention)
    {
        public static Machine Describe()
        {
            string cpu = "unknown", physical = "";
            if (File.Exists("/proc/cpuinfo"))
            {
                foreach (string line in File.ReadLines("/proc/cpuinfo"))
                {
                    int colon = line.IndexOf(':');
                    if (colon < 0) continue;
                    string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                    if (key == "model name" && cpu == "unknown") cpu = value;
                    if (key == "cpu cores" && physical == "") physical = value;
                }
            }
            // The libllama build LLamaSharp picked is the name of the folder it was loaded from (avx512, avx2, avx, noavx).
            string? lib = GoldenCommand.LoadedLibllamaPath();
            string variant = (lib is null ? null : Path.GetFileName(Path.GetDirectoryName(lib))) ?? "unknown";
            string? selection = NativeApi.GetLoadedNativeLibrary(NativeLibraryName.LLama)?.Metadata?.ToString();
            string isa = System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "AVX-512"
                : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2"
                : System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? "NEON" : "no AVX2";
            return new Machine(cpu, Environment.ProcessorCount, physical == "" ? null : physical, isa,
                DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
                RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
                PackageVersion("LLamaSharp"), variant, selection, lib, "", "");
        }

        /// <summary>
        /// A NuGet package's version as this app's deps.json records it ("libraries": {"LLamaSharp/0.30.0": ...});
        /// LLamaSharp.dll itself carries assembly version 0.0.0.0.
        /// </summary>
        private static string PackageVersion(string package)
        {
            try
            {
                string deps = Path.Combine(AppContext.BaseDirectory, Assembly.GetEntryAssembly()!.GetName().Name + ".deps.json");
                using var doc = JsonDocument.Parse(File.ReadAllText(deps));
                foreach (var library in doc.RootElement.GetProperty("libraries").EnumerateObject())
                {
                    int slash = library.Name.IndexOf('/');
                    if (slash > 0 && library.Name[..slash].Equals(package, StringComparison.OrdinalIgnoreCase))
                        return library.Name[(slash + 1)..];
                }
            }
            catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
            {
            }
            return "unknown";
        }
    }

    internal sealed record Report(Machine Machine, Settings Settings, List<Row> Rows, string[] LlamaCppLog);

    private static string[] HeaderLines(Report report)
    {
        var m = report.Machine;
        var s = report.Settings;
        return
        [
            $"Machine: {m.Cpu}, {m.LogicalCpus} logical CPUs{(m.PhysicalCores is null ? "" : $" ({m.PhysicalCores} cores per socket)")}, {m.Isa}; {m.Os}; {m.Dotnet}; {m.DateUtc}",
            $"llama.cpp: LLamaSharp {m.LlamaSharpVersion} CPU backend, native library {m.LlamaCppVariant}; KV {m.LlamaCppKv}, flash attention {m.LlamaCppFlashAttention}. SharpInfer: KV {s.SharpInferKv}",
            $"Batch 1; pp = {s.Pp} prompt tokens, tg = {s.Tg} generated tokens; median of {s.Runs} run(s) after a warm-up; ratio = SharpInfer / llama.cpp (above 1: SharpInfer faster)",
        ];
    }

    private static string F(double v) => v.ToString(v >= 100 ? "F1" : "F2", CultureInfo.InvariantCulture);
    private static string R(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    private static void PrintTable(Report report)
    {
        // Piped or redirected output gets Spectre's default 80 columns, which would wrap the nine columns.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 160);
        foreach (string line in HeaderLines(report)) Console.WriteLine(line); // plain: Spectre would wrap long lines
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("model");
        table.AddColumn("type");
        table.AddColumn(new TableColumn("threads").RightAligned());
        table.AddColumn(new TableColumn("pp llama.cpp tok/s").RightAligned());
        table.AddColumn(new TableColumn("pp SharpInfer tok/s").RightAligned());
        table.AddColumn(new TableColumn("pp ratio").RightAligned());
        table.AddColumn(new TableColumn("tg llama.cpp tok/s").RightAligned());
        table.AddColumn(new TableColumn("tg SharpInfer tok/s").RightAligned());
        table.AddColumn(new TableColumn("tg ratio").RightAligned());
        foreach (var r in report.Rows)
        {
            table.AddRow(r.Model, r.Type, r.Threads.ToString(CultureInfo.InvariantCulture),
                F(r.LlamaCpp.PpTokensPerSecond), F(r.SharpInfer.PpTokensPerSecond), R(r.PpRatio),
                F(r.LlamaCpp.TgTokensPerSecond), F(r.SharpInfer.TgTokensPerSecond), R(r.TgRatio));
        }
        AnsiConsole.Write(table);
    }

    private static string Markdown(Report report)
    {
        var sb = new StringBuilder();
        foreach (string line in HeaderLines(report)) sb.Append(line).Append("  \n");
        sb.Append('\n');
        sb.Append("| model | type | threads | pp llama.cpp tok/s | pp SharpInfer tok/s | pp ratio | tg llama.cpp tok/s | tg SharpInfer tok/s | tg ratio |\n");
        sb.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in report.Rows)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"| {r.Model} | {r.Type} | {r.Threads} | {F(r.LlamaCpp.PpTokensPerSecond)} | {F(r.SharpInfer.PpTokensPerSecond)} | {R(r.PpRatio)} | " +
                $"{F(r.LlamaCpp.TgTokensPerSecond)} | {F(r.SharpInfer.TgTokensPerSecond)} | {R(r.TgRatio)} |\n");
        }
        return sb.ToString();
    }

    // ---- helpers ----

    /// <summary>Collects llama.cpp's log lines that tell the KV cache type and the attention path it chose.</summary>
    private sealed class LlamaLogNotes(bool verbose)
    {
        private readonly StringBuilder _partial = new();
        public List<string> Lines { get; } = [];
        public string? KvType { get; private set; }
        private string? _setting, _resolved;
        public string? FlashAttention => _setting is null && _resolved is null ? null
            : _resolved is null ? _setting : _setting is null ? _resolved : $"{_setting} ({_resolved})";

        public void OnLog(LLamaLogLevel level, string message)
        {
            if (verbose || level is LLamaLogLevel.Warning or LLamaLogLevel.Error)
                Console.Error.Write($"[llama {level}] {message}");
            // llama.cpp may deliver one line in pieces (continuation messages); assemble whole lines.
            _partial.Append(message);
            if (!message.EndsWith('\n')) return;
            string line = _partial.ToString().Trim();
            _partial.Clear();
            bool keep = false;
            int k = line.IndexOf("K (", StringComparison.Ordinal);
            if (k >= 0 && line.Contains("llama_kv_cache", StringComparison.Ordinal))
            {
                int close = line.IndexOf(')', k);
                if (close > k) KvType ??= line[(k + 3)..close];
                keep = true;
            }
            // "llama_context: flash_attn    = auto" gives the setting; "... Flash Attention enabled" (or, in older
            // builds, "Flash Attention was auto, set to enabled") what auto resolved to.
            if (line.Contains("flash_attn", StringComparison.OrdinalIgnoreCase) || line.Contains("Flash Attention", StringComparison.OrdinalIgnoreCase))
            {
                int eq = line.IndexOf('=');
                if (line.Contains("flash_attn", StringComparison.Ordinal) && eq >= 0) _setting ??= line[(eq + 1)..].Trim();
                foreach (string state in (string[])["enabled", "disabled"])
                    if (line.Contains("Flash Attention", StringComparison.OrdinalIgnoreCase) && line.Contains(state, StringComparison.OrdinalIgnoreCase))
                        _resolved ??= state;
                keep = true;
            }
            if (line.Contains("CPU_REPACK", StringComparison.Ordinal)) keep = true;
            if (keep && !Lines.Contains(line)) Lines.Add(line);
        }
    }

    private static GgmlType? ParseType(string name) => name switch
    {
        "f32" => GgmlType.F32, "f16" => GgmlType.F16, "bf16" => GgmlType.BF16, "q8_0" => GgmlType.Q8_0,
        "q4_0" => GgmlType.Q4_0, "q4_k" => GgmlType.Q4_K, "q6_k" => GgmlType.Q6_K,
        _ => null,
    };

    private static List<string> SplitList(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private static int ParsePositive(string value)
    {
        int n = int.Parse(value, CultureInfo.InvariantCulture);
        return n > 0 ? n : throw new ArgumentException($"'{value}' is not a positive number");
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static void WriteFile(string path, string text)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllText(path, text);
    }
}
