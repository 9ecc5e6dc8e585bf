using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using LLama;
using LLama.Common;
using LLama.Native;

namespace SharpInfer.Benchmarks;

/// <summary>
/// Produces llama.cpp's reference greedy outputs. Decoding is done at the lowest level LLamaSharp offers:
/// a <see cref="LLamaBatch"/> decoded on the <see cref="SafeLLamaContextHandle"/>, the logits of the last
/// position read with GetLogitsIth and an argmax of our own (no sampler chain, so no sampler setting and no
/// seed can influence the result). The text is produced by llama.cpp's own <c>llama_detokenize</c>.
/// </summary>
internal static class GoldenCommand
{
    public static readonly string[] Prompts =
    [
        "Once upon a time",
        "The little dog",
        "Lily and Ben went to the park",
        "One day, a girl named Sue",
        "Tom had a red ball. He",
    ];

    private const string LogitsPrompt = "Once upon a time";

    public static int Run(string[] args)
    {
        if (args.Length < 1 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("golden: missing model path");
            return 2;
        }

        string modelPath = Path.GetFullPath(args[0]);
        string? outPath = null;
        int maxNew = 200, threads = 1, ctxSize = 512, nLogits = 10;
        AvxLevel? avx = null;
        bool verbose = false;
        GGMLType kvType = GGMLType.GGML_TYPE_F32;
        bool? flash = false; // null: llama.cpp decides ("auto")
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "--out": outPath = Next(); break;
                case "--tokens": maxNew = int.Parse(Next()); break;
                case "--threads": threads = int.Parse(Next()); break;
                case "--ctx": ctxSize = int.Parse(Next()); break;
                case "--logits": nLogits = int.Parse(Next()); break;
                case "--verbose": verbose = true; break;
                case "--kv":
                    kvType = Next().ToLowerInvariant() switch
                    {
                        "f32" => GGMLType.GGML_TYPE_F32,
                        "f16" => GGMLType.GGML_TYPE_F16,
                        var s => throw new ArgumentException($"unknown kv type '{s}' (f32|f16)"),
                    };
                    break;
                case "--fa":
                    flash = Next().ToLowerInvariant() switch
                    {
                        "off" => false,
                        "on" => true,
                        "auto" => (bool?)null,
                        var s => throw new ArgumentException($"unknown flash attention mode '{s}' (off|on|auto)"),
                    };
                    break;
                case "--avx": avx = ParseAvx(Next()); break;
                default:
                    Console.Error.WriteLine($"golden: unknown option '{a}'");
                    return 2;
            }
        }

        outPath ??= Path.Combine(ProjectDirectory(), "golden",
            Path.GetFileNameWithoutExtension(modelPath) + "-greedy.json");

        // Native library selection: log what LLamaSharp picks. Errors only from llama.cpp itself.
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            if (verbose || level is LLamaLogLevel.Warning or LLamaLogLevel.Error)
                Console.Error.Write($"[llama {level}] {message}");
        });
        if (avx is { } level)
            NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithAvx(level).WithAutoFallback(false);

        var parameters = new ModelParams(modelPath)
        {
            ContextSize = (uint)ctxSize,
            BatchSize = (uint)ctxSize,
            UBatchSize = (uint)ctxSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            SeqMax = 1,
            // Reference numerics: an f32 KV cache and the plain (non-flash) attention path keep llama.cpp's CPU
            // computation in f32 end to end (llama.cpp's defaults, f16 KV + flash attention, round K/V and Q to f16).
            TypeK = kvType,
            TypeV = kvType,
            FlashAttention = flash,
        };

        using var weights = LLamaWeights.LoadFromFile(parameters);
        var loaded = NativeApi.GetLoadedNativeLibrary(NativeLibraryName.LLama);
        string libPath = LoadedLibllamaPath() ?? "(unknown)";
        Console.Error.WriteLine($"native library: {loaded?.Metadata?.ToString() ?? "(no metadata)"} at {libPath}");

        var vocab = weights.NativeHandle.Vocab;
        int nVocab = vocab.Count;
        var eos = vocab.EOS;
        Console.Error.WriteLine($"model: {modelPath}  n_vocab={nVocab}  bos={vocab.BOS}  eos={eos}  ctx={ctxSize}  threads={threads}  kv={kvType}  flash_attn={flash?.ToString() ?? "auto"}");

        using var detok = Detokenizer.Open(libPath, weights.NativeHandle);

        var options = new JsonSerializerOptions
        {
            WriteIndented = true,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        var results = new List<GoldenEntry>();
        foreach (string prompt in Prompts)
        {
            // A fresh context per prompt: nothing from the previous prompt can leak through the KV cache.
            using var context = weights.CreateContext(parameters);
            var ctx = context.NativeHandle;

            LLamaToken[] promptTokens = ctx.Tokenize(prompt, add_bos: true, special: false, encoding: Encoding.UTF8);
            int[] promptIds = promptTokens.Select(t => (int)t).ToArray();
            Console.WriteLine($"prompt: {JsonSerializer.Serialize(prompt, options)}");
            Console.WriteLine($"  prompt_ids ({promptIds.Length}): [{string.Join(", ", promptIds)}]");

            var batch = new LLamaBatch();
            batch.AddRange(promptTokens, 0, LLamaSeqId.Zero, true);
            int logitIndex = batch.TokenCount - 1;
            Check(ctx.Decode(batch), "prompt decode");

            float[]? firstLogits = null;
            var generated = new List<int>(maxNew);
            var gaps = new List<float>(maxNew);
            int pos = promptTokens.Length;
            for (int step = 0; step < maxNew; step++)
            {
                Span<float> logits = ctx.GetLogitsIth(logitIndex);
                if (logits.Length < nVocab)
                    throw new InvalidOperationException($"logits span has {logits.Length} entries, expected {nVocab}");
                if (step == 0 && prompt == LogitsPrompt)
                    firstLogits = logits[..Math.Min(nLogits, nVocab)].ToArray();

                (int next, float gap) = ArgMax(logits[..nVocab]);
                generated.Add(next);
                gaps.Add(gap);
                if (next == (int)(eos ?? (LLamaToken)2))
                    break;
                if (pos >= ctxSize)
                    throw new InvalidOperationException("context full");

                batch.Clear();
                batch.Add((LLamaToken)next, pos++, LLamaSeqId.Zero, true);
                logitIndex = batch.TokenCount - 1;
                Check(ctx.Decode(batch), $"decode step {step}");
            }

            // The text of prompt + continuation, detokenized by llama.cpp. The leading BOS is left out so that
            // llama_detokenize strips the SentencePiece space prefix of the first word (with BOS in front it would
            // keep it); any later control token (BOS/EOS) is not rendered.
            int[] all = [.. promptIds.AsSpan(promptIds.Length > 0 && promptIds[0] == (int)(vocab.BOS ?? (LLamaToken)1) ? 1 : 0), .. generated];
            string text = detok.Detokenize(all);

            Console.WriteLine($"  generated_ids ({generated.Count}): [{string.Join(", ", generated)}]");
            Console.WriteLine($"  text: {JsonSerializer.Serialize(text, options)}");
            if (firstLogits is not null)
                Console.WriteLine($"  first_logits: [{string.Join(", ", firstLogits.Select(f => f.ToString("R")))}]");

            int tightest = Enumerable.Range(0, gaps.Count).MinBy(i => gaps[i]);
            Console.WriteLine($"  smallest top-1/top-2 logit gap: {gaps[tightest]:G6} at step {tightest}");
            Console.WriteLine();

            results.Add(new GoldenEntry(prompt, promptIds, generated.ToArray(), text,
                gaps.Select(g => MathF.Round(g, 5)).ToArray(), firstLogits));
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, ToJson(results, options));
        Console.WriteLine($"wrote {Path.GetFullPath(outPath)}");
        return 0;
    }

    /// <summary>The libllama build to force: none (or noavx), avx, avx2, avx512.</summary>
    internal static AvxLevel ParseAvx(string value) => value.ToLowerInvariant() switch
    {
        "none" or "noavx" => AvxLevel.None,
        "avx" => AvxLevel.Avx,
        "avx2" => AvxLevel.Avx2,
        "avx512" => AvxLevel.Avx512,
        var s => throw new ArgumentException($"unknown avx level '{s}'"),
    };

    /// <summary>
    /// First index of the maximum (ties go to the lowest id, as llama.cpp's greedy sampler does), and the gap
    /// between the best and the second-best logit (0 for an exact tie).
    /// </summary>
    private static (int Index, float Gap) ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        float bestValue = logits[0], second = float.NegativeInfinity;
        for (int i = 1; i < logits.Length; i++)
        {
            float v = logits[i];
            if (v > bestValue)
            {
                second = bestValue;
                bestValue = v;
                best = i;
            }
            else if (v > second)
            {
                second = v;
            }
        }
        return (best, bestValue - second);
    }

    private static void Check(DecodeResult result, string what)
    {
        if (result != DecodeResult.Ok)
            throw new InvalidOperationException($"llama_decode failed at {what}: {result}");
    }

    /// <summary>
    /// A JSON array of objects, one property per line and each value (arrays included) on that line, so the
    /// committed file stays small and diffs line up with fields.
    /// </summary>
    private static string ToJson(IReadOnlyList<GoldenEntry> entries, JsonSerializerOptions indented)
    {
        var compact = new JsonSerializerOptions(indented) { WriteIndented = false };
        var sb = new StringBuilder("[\n");
        for (int e = 0; e < entries.Count; e++)
        {
            using var doc = JsonDocument.Parse(JsonSerializer.Serialize(entries[e], compact));
            var props = doc.RootElement.EnumerateObject().ToList();
            sb.Append("  {\n");
            for (int p = 0; p < props.Count; p++)
            {
                sb.Append("    ").Append(JsonSerializer.Serialize(props[p].Name, compact)).Append(": ")
                  .Append(props[p].Value.ValueKind == JsonValueKind.Array
                      ? "[" + string.Join(", ", props[p].Value.EnumerateArray().Select(v => v.GetRawText())) + "]"
                      : JsonSerializer.Serialize(props[p].Value, compact))
                  .Append(p + 1 < props.Count ? ",\n" : "\n");
            }
            sb.Append(e + 1 < entries.Count ? "  },\n" : "  }\n");
        }
        return sb.Append("]\n").ToString();
    }

    /// <summary>The directory that holds this project's .csproj, found by walking up from the binary.</summary>
    private static string ProjectDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SharpInfer.Benchmarks.csproj")))
                return dir.FullName;
        }
        return Directory.GetCurrentDirectory();
    }

    /// <summary>The path of the libllama actually mapped into this process (Linux: /proc/self/maps).</summary>
    internal static string? LoadedLibllamaPath()
    {
        if (!OperatingSystem.IsLinux())
            return null;
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/');
            if (slash >= 0 && line.EndsWith("libllama.so", StringComparison.Ordinal))
                return line[slash..];
        }
        return null;
    }

    private sealed record GoldenEntry(
        [property: JsonPropertyName("prompt")] string Prompt,
        [property: JsonPropertyName("prompt_ids")] int[] PromptIds,
        [property: JsonPropertyName("generated_ids")] int[] GeneratedIds,
        [property: JsonPropertyName("text")] string Text,
        // Per generated step: best logit minus second-best logit (rounded to 1e-5). A step with a tiny gap is a
        // near-tie that another correct implementation (or another llama.cpp CPU variant) may break differently.
        [property: JsonPropertyName("top_gaps")] float[] TopGaps,
        [property: JsonPropertyName("first_logits")] float[]? FirstLogits);

    /// <summary>
    /// Calls llama.cpp's <c>llama_detokenize</c> (the same function common_detokenize uses) from the libllama
    /// LLamaSharp already loaded; LLamaSharp does not expose it with a public vocab pointer.
    /// </summary>
    private sealed unsafe class Detokenizer : IDisposable
    {
        private readonly nint _lib;
        private readonly nint _vocab;
        private readonly delegate* unmanaged[Cdecl]<nint, int*, int, byte*, int, byte, byte, int> _detokenize;

        private Detokenizer(nint lib, nint vocab, nint detokenize)
        {
            _lib = lib;
            _vocab = vocab;
            _detokenize = (delegate* unmanaged[Cdecl]<nint, int*, int, byte*, int, byte, byte, int>)detokenize;
        }

        public static Detokenizer Open(string libPath, SafeLlamaModelHandle model)
        {
            nint lib = NativeLibrary.Load(libPath);
            var getVocab = (delegate* unmanaged[Cdecl]<nint, nint>)NativeLibrary.GetExport(lib, "llama_model_get_vocab");
            nint vocab = getVocab(model.DangerousGetHandle());
            return new Detokenizer(lib, vocab, NativeLibrary.GetExport(lib, "llama_detokenize"));
        }

        public string Detokenize(int[] tokens, bool removeSpecial = false, bool unparseSpecial = false)
        {
            var buffer = new byte[Math.Max(256, tokens.Length * 16)];
            fixed (int* t = tokens)
            {
                while (true)
                {
                    int n;
                    fixed (byte* b = buffer)
                        n = _detokenize(_vocab, t, tokens.Length, b, buffer.Length, removeSpecial ? (byte)1 : (byte)0, unparseSpecial ? (byte)1 : (byte)0);
                    if (n >= 0)
                        return Encoding.UTF8.GetString(buffer, 0, n);
                    buffer = new byte[-n];
                }
            }
        }

        public void Dispose() => NativeLibrary.Free(_lib);
    }
}
