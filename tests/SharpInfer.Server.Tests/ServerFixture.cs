using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Serving;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;

namespace SharpInfer.Server.Tests;

/// <summary>A real server on a free loopback port over a real engine; disposed with everything it started.</summary>
internal sealed class RunningServer : IAsyncDisposable
{
    private readonly IAsyncDisposable? _ownedEngine;
    private readonly IDisposable? _ownedModel;

    public WebApplication App { get; }
    public IServingEngine Engine { get; }
    public HttpClient Http { get; }
    public Uri BaseAddress { get; }

    private RunningServer(WebApplication app, IServingEngine engine, IAsyncDisposable? ownedEngine, IDisposable? ownedModel)
    {
        App = app;
        Engine = engine;
        _ownedEngine = ownedEngine;
        _ownedModel = ownedModel;
        BaseAddress = SharpInferServer.ListeningAddress(app);
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public const string ModelId = "stories260K";

    /// <summary>The stories260K model behind the continuous-batching engine, or null when the shared models are absent outside CI.</summary>
    public static async Task<RunningServer?> StartStoriesAsync(Func<ServerOptions, ServerOptions>? configure = null, int maxQueue = 64,
        Func<IServingEngine, IServingEngine>? wrap = null)
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return null;
        var model = LlamaModel.Load(path, threads: 1);
        var tokenizer = Tokenizer.Create(GgufVocabulary.Read(model.File));
        IServingEngine engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxQueue = maxQueue, MaxBatchTokens = model.MaxTokensPerForward, KvPages = 256 });
        var served = wrap?.Invoke(engine) ?? engine;
        return await StartAsync(served, configure, engine, model);
    }

    public static async Task<RunningServer> StartAsync(IServingEngine engine, Func<ServerOptions, ServerOptions>? configure = null,
        IAsyncDisposable? ownedEngine = null, IDisposable? ownedModel = null)
    {
        var options = new ServerOptions { ModelId = ModelId, Port = 0 };
        var app = SharpInferServer.Build(engine, configure?.Invoke(options) ?? options);
        await app.StartAsync();
        return new RunningServer(app, engine, ownedEngine, ownedModel);
    }

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json, string? apiKey = null, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (apiKey != null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return Http.SendAsync(request, completion);
    }

    public async Task<(HttpResponseMessage Response, JsonElement Body)> PostAsync(string path, string json, string? apiKey = null)
    {
        var response = await PostJsonAsync(path, json, apiKey);
        return (response, await ReadJsonAsync(response));
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The JSON of every `data:` event of a server-sent-events stream, up to (not including) [DONE]; and whether [DONE] came.</summary>
    public async Task<(List<JsonElement> Events, bool Done)> StreamAsync(string path, string json)
    {
        using var response = await PostJsonAsync(path, json, completion: HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<JsonElement>();
        string? line;
        while ((line = await reader.ReadLineAsync()) != null)
        {
            if (line.Length == 0) continue;
            Assert.StartsWith("data: ", line);
            string data = line["data: ".Length..];
            if (data == "[DONE]") return (events, Done: await reader.ReadToEndAsync() is var rest && rest.Trim().Length == 0);
            events.Add(JsonDocument.Parse(data).RootElement.Clone());
        }
        return (events, false);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownedEngine != null) await _ownedEngine.DisposeAsync();
        _ownedModel?.Dispose();
    }
}

/// <summary>
/// Passes requests to a real engine but hands out each update only after a delay, so a test can act while a
/// generation is still running; it counts its own running generations and remembers cancellations.
/// </summary>
internal sealed class SlowEngine(IServingEngine inner, TimeSpan delayPerUpdate) : IServingEngine
{
    private int _running, _cancelled;

    public int Cancelled => Volatile.Read(ref _cancelled);
    public ITokenizer Tokenizer => inner.Tokenizer;
    public int ContextLength => inner.ContextLength;

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(ServingRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        Interlocked.Increment(ref _running);
        try
        {
            await foreach (var update in inner.GenerateAsync(request, cancellation))
            {
                try { await Task.Delay(delayPerUpdate, cancellation); }
                catch (OperationCanceledException) { Interlocked.Increment(ref _cancelled); throw; }
                yield return update;
            }
        }
        finally { Interlocked.Decrement(ref _running); }
    }

    public EngineSnapshot Snapshot() => inner.Snapshot() with { Running = Volatile.Read(ref _running) };

    public async Task DrainAsync(CancellationToken cancellation = default)
    {
        await inner.DrainAsync(cancellation);
        while (Volatile.Read(ref _running) > 0) await Task.Delay(10, cancellation);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>An engine whose every generation fails with the given exception, for the error paths.</summary>
internal sealed class FailingEngine(ITokenizer tokenizer, Func<Exception> failure) : IServingEngine
{
    public ITokenizer Tokenizer => tokenizer;
    public int ContextLength => 512;

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(ServingRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        await Task.Yield(); // fail on the first MoveNextAsync, as a real engine does
        if (failure != null) throw failure();
        yield break;
    }

    public EngineSnapshot Snapshot() => new();
    public Task DrainAsync(CancellationToken cancellation = default) => Task.CompletedTask;
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
