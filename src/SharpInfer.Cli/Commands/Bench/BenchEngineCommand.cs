using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Sampling;
using SharpInfer.Engine.Serving;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Cli.Commands.Bench;

/// <summary>
/// `sharpinfer bench engine`: what continuous batching and the prefix cache buy, measured on the serving engine in
/// one run. (1) N greedy requests one at a time, then all N at once: total times, their ratio, and whether every
/// output is the same token for token. (2) Time to first token of a request with a long prompt, then of a second
/// request that repeats the prompt's prefix and differs at the end.
/// </summary>
public static class BenchEngineCommand
{
    public sealed record BatchingResult(int Requests, int MaxTokens, double SequentialSeconds, double ConcurrentSeconds, double Speedup, bool OutputsIdentical,
        long GeneratedTokens, double SequentialTokensPerSecond, double ConcurrentTokensPerSecond);
    public sealed record PrefixResult(int PrefixTokens, double FirstTtftMilliseconds, double SecondTtftMilliseconds, double Speedup, double HitRate);

    public static Command Create()
    {
        var model = ModelOptions.Model();
        var threads = ModelOptions.Threads();
        var requests = new Option<int>("--requests", "-n") { Description = "Requests in the batching comparison", DefaultValueFactory = _ => 32 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens generated per request", DefaultValueFactory = _ => 64 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt tokens per request (random ids)", DefaultValueFactory = _ => 64 };
        var prefix = new Option<int>("--prefix-tokens") { Description = "Shared prefix of the prefix-cache measurement (0 = skip it)", DefaultValueFactory = _ => 1024 };
        var matrixVector = new Option<bool>("--matrix-vector-decode") { Description = "Decode through the int8 matrix-vector path instead of the float GEMM (interleaved Q8_0/Q4_0 matrices take their integer kernels (VNNI or 16-bit) either way)" };
        var batchTokens = new Option<int>("--max-batch-tokens") { Description = "Most tokens one engine step computes (decodes and prompt chunks)", DefaultValueFactory = _ => 128 };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of tables" };
        var command = new Command("engine", "Continuous batching (N requests at once vs one at a time) and prefix-cache time to first token")
        {
            model, threads, requests, maxTokens, promptTokens, prefix, matrixVector, batchTokens, json,
        };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(requests), max = parse.GetValue(maxTokens), promptLength = parse.GetValue(promptTokens), prefixLength = parse.GetValue(prefix);
            if (n < 1 || max < 1 || promptLength < 2 || prefixLength < 0) throw new CliInputException("--requests and --max-tokens must be >= 1, --prompt-tokens >= 2, --prefix-tokens >= 0");
            int budget = parse.GetValue(batchTokens);
            if (budget is < 8 or > 8192) throw new CliInputException($"--max-batch-tokens {budget} must be between 8 and 8192");
            string path = ModelOptions.Resolve(parse.GetValue(model));
            using var llama = LlamaModel.Load(path, parse.GetValue(threads), budget);
            var tokenizer = Tokenizer.Create(GgufVocabulary.Read(llama.File));
            if (promptLength + max >= llama.Config.ContextLength) throw new CliInputException($"--prompt-tokens + --max-tokens must stay below the context of {llama.Config.ContextLength}");
            if (prefixLength + 16 >= llama.Config.ContextLength) throw new CliInputException($"--prefix-tokens must stay below the context of {llama.Config.ContextLength} (minus 16)");
            var options = new BatchingOptions { MaxBatchTokens = llama.MaxTokensPerForward, MatrixVectorDecode = parse.GetValue(matrixVector), MaxRunning = Math.Min(n, llama.MaxTokensPerForward - 3) };
            var batching = MeasureBatching(llama, tokenizer, options, n, max, promptLength);
            var prefixResult = prefixLength > 0 ? MeasurePrefix(llama, tokenizer, options, prefixLength) : null;
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new { model = path, batching, prefix = prefixResult }, new JsonSerializerOptions { WriteIndented = true }));
                return batching.OutputsIdentical ? CliRunner.Ok : 1;
            }
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
            string F(double v, string format = "F2") => v.ToString(format, CultureInfo.InvariantCulture);
            console.MarkupLine($"[bold]{Markup.Escape(Path.GetFileName(path))}[/], {llama.Threads} threads, decode mode {(options.MatrixVectorDecode ? "matrix-vector" : "GEMM")} (interleaved Q8_0/Q4_0 take their integer kernels in either)");
            var t = new Table().AddColumns("requests", "tokens each", "one at a time s", "all at once s", "speedup", "tok/s one at a time", "tok/s at once", "outputs identical");
            t.AddRow(n.ToString(CultureInfo.InvariantCulture), max.ToString(CultureInfo.InvariantCulture), F(batching.SequentialSeconds), F(batching.ConcurrentSeconds),
                F(batching.Speedup) + "x", F(batching.SequentialTokensPerSecond, "F1"), F(batching.ConcurrentTokensPerSecond, "F1"), batching.OutputsIdentical ? "yes" : "[red]NO[/]");
            console.Write(t);
            if (prefixResult != null)
            {
                var p = new Table().AddColumns("shared prefix tokens", "TTFT first ms", "TTFT repeat ms", "speedup", "prefix-cache hit rate");
                p.AddRow(prefixResult.PrefixTokens.ToString(CultureInfo.InvariantCulture), F(prefixResult.FirstTtftMilliseconds, "F1"), F(prefixResult.SecondTtftMilliseconds, "F1"),
                    F(prefixResult.Speedup, "F1") + "x", F(prefixResult.HitRate, "P0"));
                console.Write(p);
            }
            return batching.OutputsIdentical ? CliRunner.Ok : 1;
        });
        return command;
    }

    private static async Task<(List<int> Tokens, double FirstTokenSeconds)> Collect(IServingEngine engine, ServingRequest request)
    {
        var tokens = new List<int>();
        var clock = Stopwatch.StartNew();
        double first = 0;
        await foreach (var u in engine.GenerateAsync(request))
            if (u.Token is int token)
            {
                if (tokens.Count == 0) first = clock.Elapsed.TotalSeconds;
                tokens.Add(token);
            }
        return (tokens, first);
    }

    public static BatchingResult MeasureBatching(LlamaModel model, ITokenizer tokenizer, BatchingOptions options, int n, int maxTokens, int promptTokens)
    {
        var rng = new Random(42);
        // Random prompt ids: no shared prefixes. A request may stop early at end-of-text; both runs count what was generated.
        var prompts = Enumerable.Range(0, n).Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, promptTokens).Select(_ => rng.Next(3, model.Config.VocabSize)).ToArray()).ToList();
        var generation = new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingParameters.Greedy, AddSpecialTokens = false };
        var noCache = options with { PrefixCache = false };
        return Task.Run(async () =>
        {
            // Warm-up: JIT and caches, outside the timings.
            await using (var warm = new BatchingServingEngine(model, tokenizer, noCache))
                await Task.WhenAll(prompts.Take(4).Select(p => Collect(warm, new ServingRequest { PromptTokens = p, Options = generation with { MaxTokens = 4 } })));
            // The clocks cover serving only: a server builds its engine (and KV pool) once, at startup.
            var sequential = new List<List<int>>();
            double sequentialSeconds, concurrentSeconds;
            await using (var engine = new BatchingServingEngine(model, tokenizer, noCache))
            {
                var clock = Stopwatch.StartNew();
                foreach (var p in prompts) sequential.Add((await Collect(engine, new ServingRequest { PromptTokens = p, Options = generation })).Tokens);
                sequentialSeconds = clock.Elapsed.TotalSeconds;
            }
            (List<int> Tokens, double)[] concurrent;
            await using (var engine = new BatchingServingEngine(model, tokenizer, noCache))
            {
                var clock = Stopwatch.StartNew();
                concurrent = await Task.WhenAll(prompts.Select(p => Collect(engine, new ServingRequest { PromptTokens = p, Options = generation })));
                concurrentSeconds = clock.Elapsed.TotalSeconds;
            }
            bool identical = Enumerable.Range(0, n).All(i => sequential[i].SequenceEqual(concurrent[i].Tokens));
            long generated = sequential.Sum(s => (long)s.Count);
            return new BatchingResult(n, maxTokens, sequentialSeconds, concurrentSeconds, sequentialSeconds / concurrentSeconds, identical, generated,
                generated / sequentialSeconds, concurrent.Sum(c => (long)c.Tokens.Count) / concurrentSeconds);
        }).GetAwaiter().GetResult();
    }

    public static PrefixResult MeasurePrefix(LlamaModel model, ITokenizer tokenizer, BatchingOptions options, int prefixTokens)
    {
        var rng = new Random(7);
        var prefix = Enumerable.Range(0, prefixTokens).Select(_ => rng.Next(3, model.Config.VocabSize)).ToList();
        var generation = new GenerationOptions { MaxTokens = 4, Sampling = SamplingParameters.Greedy, AddSpecialTokens = false };
        return Task.Run(async () =>
        {
            await using var engine = new BatchingServingEngine(model, tokenizer, options);
            // Warm-up on an unrelated prompt so the first measured request pays no JIT.
            await Collect(engine, new ServingRequest { PromptTokens = Enumerable.Range(0, 64).Select(_ => rng.Next(3, model.Config.VocabSize)).ToArray(), Options = generation });
            var first = await Collect(engine, new ServingRequest { PromptTokens = [.. prefix, 11, 12, 13], Options = generation });
            var before = engine.Snapshot();
            var second = await Collect(engine, new ServingRequest { PromptTokens = [.. prefix, 21, 22, 23], Options = generation });
            var after = engine.Snapshot();
            double hitRate = (double)(after.PrefixCacheHitTokens - before.PrefixCacheHitTokens) / (after.PromptTokens - before.PromptTokens);
            return new PrefixResult(prefixTokens, first.FirstTokenSeconds * 1000, second.FirstTokenSeconds * 1000, first.FirstTokenSeconds / second.FirstTokenSeconds, hitRate);
        }).GetAwaiter().GetResult();
    }
}
