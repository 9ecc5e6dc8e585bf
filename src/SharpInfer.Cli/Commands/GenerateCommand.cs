using System.CommandLine;
using System.Globalization;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Sampling;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Cli.Commands;

/// <summary>`sharpinfer generate`: streams a continuation of the prompt to stdout, then one stats line to stderr.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string?>("prompt") { Description = "Prompt text; '-' reads it from stdin (default: \"Once upon a time\")", Arity = ArgumentArity.ZeroOrOne };
        var model = ModelOptions.Model();
        var threads = ModelOptions.Threads();
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens to generate", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature", "--temp") { Description = "Sampling temperature; 0 = greedy", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "Keep the K most likely tokens (0 = off)", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (1 = off)", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens below this fraction of the top probability (0 = off)", DefaultValueFactory = _ => 0.05f };
        var repeatPenalty = new Option<float>("--repeat-penalty") { Description = "Repetition penalty (1 = off)", DefaultValueFactory = _ => 1f };
        var presencePenalty = new Option<float>("--presence-penalty") { Description = "Presence penalty (0 = off)" };
        var frequencyPenalty = new Option<float>("--frequency-penalty") { Description = "Frequency penalty (0 = off)" };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "Random seed: the same seed and settings give the same text" };
        var stop = new Option<string[]>("--stop") { Description = "Stop before this string (repeatable)", AllowMultipleArgumentsPerToken = false };
        var context = new Option<int>("--context", "-c") { Description = "Context length in tokens (default: the model's, at most 4096)" };
        var noEcho = new Option<bool>("--no-echo") { Description = "Do not print the prompt before the continuation" };

        var command = new Command("generate", "Generate text from a prompt with a GGUF model")
        {
            prompt, model, maxTokens, temperature, topK, topP, minP, repeatPenalty, presencePenalty, frequencyPenalty, seed, stop, threads, context, noEcho,
        };
        command.SetAction(parse =>
        {
            string text = parse.GetValue(prompt) ?? "Once upon a time";
            if (text == "-") text = Console.In.ReadToEnd();
            int n = parse.GetValue(maxTokens);
            if (n < 0) throw new CliInputException($"--max-tokens {n} must be >= 0");
            int t = parse.GetValue(threads);
            if (t < 1 || t > 1024) throw new CliInputException($"--threads {t} must be between 1 and 1024");
            var sampling = new SamplingParameters
            {
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepetitionPenalty = parse.GetValue(repeatPenalty),
                PresencePenalty = parse.GetValue(presencePenalty),
                FrequencyPenalty = parse.GetValue(frequencyPenalty),
                Seed = parse.GetValue(seed),
            };
            if (sampling.Validate() is { } problem) throw new CliInputException(problem);

            string path = ModelOptions.Resolve(parse.GetValue(model));
            using var llama = LlamaModel.Load(path, t);
            var tokenizer = Tokenizer.Create(GgufVocabulary.Read(llama.File));
            using var generator = new TextGenerator(llama, tokenizer, parse.GetValue(context));
            var options = new GenerationOptions { MaxTokens = n, Sampling = sampling, Stop = parse.GetValue(stop) ?? [] };
            var stdout = parse.InvocationConfiguration.Output;
            var promptTokens = generator.Encode(text);
            if (!parse.GetValue(noEcho)) { stdout.Write(text); stdout.Flush(); }
            GenerationStats? stats = null;
            if (n > 0)
            {
                foreach (var update in generator.Generate(promptTokens, options))
                {
                    if (update.Text.Length > 0) { stdout.Write(update.Text); stdout.Flush(); }
                    stats = update.Final ?? stats;
                }
            }
            stdout.WriteLine();
            var err = parse.InvocationConfiguration.Error;
            if (stats != null)
                err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"prompt: {stats.PromptTokens} tokens, {stats.PromptTokensPerSecond:F1} tok/s | generation: {stats.GeneratedTokens} tokens, {stats.GenerationTokensPerSecond:F1} tok/s | finish: {stats.FinishReason.ToString().ToLowerInvariant()} | threads: {t}"));
            return CliRunner.Ok;
        });
        return command;
    }
}
