using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Serving;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;
using SharpInfer.Server;
using SharpInfer.Models.Chat;
using SharpInfer.Server.Chat;
using SharpInfer.Server.Clients;

namespace SharpInfer.Cli.Commands;

/// <summary>
/// What `sharpinfer serve` was asked for. Policy and KV pages are accepted and checked now and reach the
/// continuous-batching engine when it replaces the serial one.
/// </summary>
public sealed record ServeOptions
{
    public static readonly IReadOnlyList<string> Policies = ["fcfs", "lpm", "vtc", "dlpm"];

    public string? Model { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 8000;
    /// <summary>Scheduling policy of the batching engine: fcfs, lpm (longest prefix match), vtc (virtual token counter), dlpm (both).</summary>
    public string Policy { get; init; } = "dlpm";
    public string? ApiKeysFile { get; init; }
    public int MaxQueue { get; init; } = 256;
    /// <summary>KV cache pages of the batching engine (0 = sized from the context).</summary>
    public int KvPages { get; init; }
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Context length in tokens (0 = the model's).</summary>
    public int Context { get; init; }
    public int MaxTokensLimit { get; init; } = 4096;
    /// <summary>Most tokens one engine step computes: decodes plus prompt chunks (vLLM's max_num_batched_tokens).</summary>
    public int MaxBatchTokens { get; init; } = 128;
    /// <summary>Decode through the int8 matrix-vector path (fastest for one request) instead of the float GEMM (fastest for many).</summary>
    public bool MatrixVectorDecode { get; init; }

    /// <summary>Checks every value; returns a one-line problem or null.</summary>
    public string? Validate() =>
        !Policies.Contains(Policy) ? $"--policy '{Policy}' must be one of {string.Join(", ", Policies)}" :
        Host != "localhost" && !IPAddress.TryParse(Host, out _) ? $"--host '{Host}' must be an IP address (such as 127.0.0.1 or 0.0.0.0) or localhost" :
        Port is < 0 or > 65535 ? $"--port {Port} must be between 0 and 65535" :
        MaxQueue < 0 ? $"--max-queue {MaxQueue} must be >= 0" :
        KvPages < 0 ? $"--kv-pages {KvPages} must be >= 0" :
        Threads is < 1 or > 1024 ? $"--threads {Threads} must be between 1 and 1024" :
        Context < 0 ? $"--context {Context} must be >= 0" :
        MaxTokensLimit < 1 ? $"--max-tokens-limit {MaxTokensLimit} must be >= 1" :
        MaxBatchTokens is < 8 or > 8192 ? $"--max-batch-tokens {MaxBatchTokens} must be between 8 and 8192" : null;

    /// <summary>The continuous-batching engine these options ask for.</summary>
    public IServingEngine CreateEngine(LlamaModel model, ITokenizer tokenizer) => new BatchingServingEngine(model, tokenizer, new BatchingOptions
    {
        Policy = Policy, KvPages = KvPages, MaxQueue = MaxQueue, ContextLength = Context,
        MaxBatchTokens = model.MaxTokensPerForward, MaxRunning = Math.Min(64, model.MaxTokensPerForward - 3), MatrixVectorDecode = MatrixVectorDecode,
    });
}

/// <summary>`sharpinfer serve`: an OpenAI-compatible HTTP server for one model until SIGTERM or Ctrl+C.</summary>
public static class ServeCommand
{
    /// <param name="started">Called once the server listens (tests use it to talk to the server and stop it).</param>
    public static Command Create(Action<WebApplication>? started = null)
    {
        var defaults = new ServeOptions();
        var model = ModelOptions.Model();
        var threads = ModelOptions.Threads();
        var host = new Option<string>("--host") { Description = "Address to listen on (default: loopback only)", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port", "-p") { Description = "Port to listen on (0 = any free port)", DefaultValueFactory = _ => defaults.Port };
        var policy = new Option<string>("--policy") { Description = $"Scheduling policy: {string.Join(", ", ServeOptions.Policies)}", DefaultValueFactory = _ => defaults.Policy };
        var apiKeys = new Option<string?>("--api-keys") { Description = "File of '<key> <client-name> [weight]' lines; when given, every /v1 request needs 'Authorization: Bearer <key>'" };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests that may wait; more get 429", DefaultValueFactory = _ => defaults.MaxQueue };
        var kvPages = new Option<int>("--kv-pages") { Description = "KV cache pages (0 = sized from the context)" };
        var context = new Option<int>("--context", "-c") { Description = "Context length in tokens (default: the model's, at most 4096)" };
        var matrixVector = new Option<bool>("--matrix-vector-decode") { Description = "Decode through int8 matrix-vector products: faster for one request at a time, slower for many (default: the float GEMM; interleaved Q8_0/Q4_0 take their integer kernels (VNNI or 16-bit) either way)" };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { Description = "Most tokens one engine step computes (decodes plus prompt chunks)", DefaultValueFactory = _ => defaults.MaxBatchTokens };
        var maxTokensLimit = new Option<int>("--max-tokens-limit") { Description = "Largest max_tokens a request may ask for", DefaultValueFactory = _ => defaults.MaxTokensLimit };

        var command = new Command("serve", "Serve a GGUF model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions)")
        {
            model, host, port, policy, apiKeys, maxQueue, kvPages, threads, context, maxTokensLimit, maxBatchTokens, matrixVector,
        };
        // A synchronous action on purpose: System.CommandLine then leaves SIGTERM and Ctrl+C to the web host, which
        // drains the engine, instead of cancelling the action and exiting after its own short timeout.
        command.SetAction(parse =>
        {
            var options = new ServeOptions
            {
                Model = parse.GetValue(model), Host = parse.GetValue(host)!, Port = parse.GetValue(port), Policy = parse.GetValue(policy)!,
                ApiKeysFile = parse.GetValue(apiKeys), MaxQueue = parse.GetValue(maxQueue), KvPages = parse.GetValue(kvPages),
                Threads = parse.GetValue(threads), Context = parse.GetValue(context), MaxTokensLimit = parse.GetValue(maxTokensLimit),
                MatrixVectorDecode = parse.GetValue(matrixVector), MaxBatchTokens = parse.GetValue(maxBatchTokens),
            };
            if (options.Validate() is { } problem) throw new CliInputException(problem);
            IReadOnlyDictionary<string, ApiClient>? keys = null;
            if (options.ApiKeysFile is { } keysFile)
            {
                try { keys = ApiKeysFile.Load(keysFile); }
                catch (ApiKeysFormatException e) { throw new CliInputException(e.Message); }
            }
            return ServeAsync(options, keys, parse.InvocationConfiguration.Error, started).GetAwaiter().GetResult();
        });
        return command;
    }

    private static async Task<int> ServeAsync(ServeOptions options, IReadOnlyDictionary<string, ApiClient>? keys, TextWriter log,
        Action<WebApplication>? started)
    {
        string path = ModelOptions.Resolve(options.Model);
        using var llama = LlamaModel.Load(path, options.Threads, options.MaxBatchTokens);
        var tokenizer = Tokenizer.Create(GgufVocabulary.Read(llama.File));
        IServingEngine engine;
        try { engine = options.CreateEngine(llama, tokenizer); }
        catch (ArgumentException e) { throw new CliInputException(e.Message); }
        await using var engineScope = engine;
        ChatTemplate template;
        try { template = ChatTemplate.FromGguf(llama.File); }
        catch (ChatTemplateException e) { throw new CliInputException($"{path}: tokenizer.chat_template: {e.Message}"); }
        string TokenText(int id) => id >= 0 && id < tokenizer.VocabularySize ? tokenizer.TokenText(id) : "";
        var serverOptions = new ServerOptions
        {
            ChatRenderer = new GgufChatPromptRenderer(template, TokenText(tokenizer.BosId), TokenText(tokenizer.EosId)),
            ModelId = Path.GetFileNameWithoutExtension(path), Host = options.Host, Port = options.Port, ApiKeys = keys,
            MaxTokensLimit = options.MaxTokensLimit,
        };
        await using var app = SharpInferServer.Build(engine, serverOptions);
        try { await app.StartAsync(); }
        catch (IOException e)
        {
            throw new CliInputException($"cannot listen on {options.Host}:{options.Port}: {e.Message}");
        }
        var address = SharpInferServer.ListeningAddress(app);
        log.WriteLine($"serving {serverOptions.ModelId} at {address} (OpenAI API at {new Uri(address, "/v1")}; context {engine.ContextLength} tokens; " +
            $"policy {options.Policy}; {(keys == null ? "no API keys" : $"{keys.Count} API keys")}); Ctrl+C to stop");
        started?.Invoke(app);
        // SIGTERM and Ctrl+C stop the host, which drains the engine before Kestrel closes (see the server's shutdown).
        await app.WaitForShutdownAsync(CancellationToken.None);
        log.WriteLine("stopped");
        return CliRunner.Ok;
    }
}
