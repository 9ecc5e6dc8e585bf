using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using SharpInfer.Kernels.Attention;
using SharpInfer.Models.Llama;

namespace SharpInfer.Cli.Commands.Bench;

/// <summary>
/// `sharpinfer bench decode`: prompt processing and decode throughput of one model at several batch sizes, in one
/// run. Batch B decodes B sequences together, one token each per step (ragged batch over the paged KV cache), so
/// the aggregate tokens/s shows how well batching reuses each weight read.
/// </summary>
public static class BenchDecodeCommand
{
    public sealed record Row(int Threads, int Batch, double PromptTokensPerSecond, double DecodeTokensPerSecond, double DecodeStepMilliseconds);

    public static Command Create()
    {
        var model = ModelOptions.Model();
        var threads = ModelOptions.Threads();
        var batches = new Option<string>("--batch") { Description = "Batch sizes, comma-separated", DefaultValueFactory = _ => "1,16" };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt tokens per sequence", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "Decode steps measured", DefaultValueFactory = _ => 32 };
        var runs = new Option<int>("--runs") { Description = "Runs; the median is reported", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var gemm = new Option<bool>("--gemm-decode") { Description = "Decode through the float GEMM (the server's choice) instead of the int8 matrix-vector path (interleaved Q8_0/Q4_0 matrices take their integer kernels (VNNI or 16-bit) either way)" };
        var command = new Command("decode", "Prompt and decode throughput of a model at several batch sizes") { model, threads, batches, prompt, steps, runs, gemm, json };
        command.SetAction(parse =>
        {
            int[] sizes;
            try { sizes = parse.GetValue(batches)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); }
            catch (FormatException) { throw new CliInputException($"--batch '{parse.GetValue(batches)}' is not a list of integers"); }
            if (sizes.Length == 0 || sizes.Any(b => b < 1 || b > 256)) throw new CliInputException("--batch sizes must be between 1 and 256");
            int promptTokens = parse.GetValue(prompt), stepCount = parse.GetValue(steps), runCount = parse.GetValue(runs), t = parse.GetValue(threads);
            if (promptTokens < 1 || stepCount < 1 || runCount < 1) throw new CliInputException("--prompt-tokens, --steps and --runs must be positive");
            string path = ModelOptions.Resolve(parse.GetValue(model));
            using var llama = LlamaModel.Load(path, t);
            llama.DecodeWithMatrixVector = !parse.GetValue(gemm);
            if (promptTokens + stepCount > llama.Config.ContextLength) throw new CliInputException($"--prompt-tokens + --steps exceeds the context of {llama.Config.ContextLength}");
            var rows = Measure(llama, t, sizes, promptTokens, stepCount, runCount);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new { model = path, rows }, new JsonSerializerOptions { WriteIndented = true }));
                return CliRunner.Ok;
            }
            var table = new Table().AddColumns("threads", "batch", "prompt tok/s", "decode tok/s (aggregate)", "step ms", "vs batch 1");
            double single = rows.FirstOrDefault(r => r.Batch == 1)?.DecodeTokensPerSecond ?? rows[0].DecodeTokensPerSecond;
            foreach (var r in rows)
                table.AddRow(r.Threads.ToString(CultureInfo.InvariantCulture), r.Batch.ToString(CultureInfo.InvariantCulture), r.PromptTokensPerSecond.ToString("F1", CultureInfo.InvariantCulture),
                    r.DecodeTokensPerSecond.ToString("F1", CultureInfo.InvariantCulture), r.DecodeStepMilliseconds.ToString("F2", CultureInfo.InvariantCulture),
                    (r.DecodeTokensPerSecond / single).ToString("F2", CultureInfo.InvariantCulture) + "x");
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
            console.MarkupLine($"[bold]{Markup.Escape(Path.GetFileName(path))}[/]: {promptTokens}-token prompts, {stepCount} decode steps, median of {runCount} runs (batch sizes alternating), decode mode {(llama.DecodeWithMatrixVector ? "matrix-vector" : "GEMM")} (interleaved Q8_0/Q4_0 take their integer kernels in either)");
            console.Write(table);
            return CliRunner.Ok;
        });
        return command;
    }

    /// <summary>
    /// Each run measures every batch size once, in turn, so that the host's drift (shared machines swing by 10-30%
    /// within a minute) lands on all of them alike instead of on whichever size ran last; run 0 warms up. Medians.
    /// </summary>
    public static List<Row> Measure(LlamaModel model, int threads, int[] batches, int promptTokens, int steps, int runs)
    {
        var prompt = batches.Select(_ => new List<double>()).ToArray();
        var decode = batches.Select(_ => new List<double>()).ToArray();
        for (int run = 0; run <= runs; run++)
            for (int i = 0; i < batches.Length; i++)
            {
                var (promptRate, decodeRate) = MeasureOnce(model, batches[i], promptTokens, steps);
                if (run == 0) continue;
                prompt[i].Add(promptRate);
                decode[i].Add(decodeRate);
            }
        return batches.Select((batch, i) =>
        {
            double decodeRate = Median(decode[i]);
            return new Row(threads, batch, Median(prompt[i]), decodeRate, 1000.0 * batch / decodeRate);
        }).ToList();
    }

    /// <summary>Prefills <paramref name="batch"/> sequences one by one, then times decode steps of the whole batch: (prompt, decode) tokens/s.</summary>
    private static (double Prompt, double Decode) MeasureOnce(LlamaModel model, int batch, int promptTokens, int steps)
    {
        const int pageSize = 16;
        int pagesPerSequence = (promptTokens + steps + pageSize - 1) / pageSize;
        var rng = new Random(1234);
        int vocab = model.Config.VocabSize;
        var prompts = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, promptTokens).Select(_ => rng.Next(3, vocab)).ToArray()).ToArray();
        var logits = new float[batch * vocab];
        using var cache = model.CreateKvCache(batch * pagesPerSequence, pageSize);
        long start = Stopwatch.GetTimestamp();
        for (int b = 0; b < batch; b++)
        {
            var pages = Enumerable.Range(b * pagesPerSequence, pagesPerSequence).ToArray();
            model.Forward(prompts[b], [0, promptTokens], PageTable.ForSingle(pages, promptTokens, pageSize), cache, logits);
        }
        double promptSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var tokens = new int[batch];
        var qoIndptr = Enumerable.Range(0, batch + 1).ToArray();
        var indices = Enumerable.Range(0, batch * pagesPerSequence).ToArray();
        start = Stopwatch.GetTimestamp();
        for (int s = 0; s < steps; s++)
        {
            int length = promptTokens + s + 1;
            int usedPages = (length + pageSize - 1) / pageSize;
            var last = Enumerable.Repeat(length - (usedPages - 1) * pageSize, batch).ToArray();
            // Each sequence keeps its full page range; only the first usedPages of it are listed.
            var compact = new int[batch * usedPages];
            var compactIndptr = new int[batch + 1];
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(indices, b * pagesPerSequence, compact, b * usedPages, usedPages);
                compactIndptr[b + 1] = (b + 1) * usedPages;
            }
            for (int b = 0; b < batch; b++) tokens[b] = prompts[b][s % promptTokens];
            model.Forward(tokens, qoIndptr, new PageTable(compactIndptr, compact, last, pageSize), cache, logits);
        }
        double decodeSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (batch * promptTokens / promptSeconds, batch * steps / decodeSeconds);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
