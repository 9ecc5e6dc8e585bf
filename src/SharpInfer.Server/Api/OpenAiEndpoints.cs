using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Serving;
using SharpInfer.Server.Clients;
using SharpInfer.Server.Metrics;

namespace SharpInfer.Server.Api;

/// <summary>The handlers of /v1/completions, /v1/chat/completions and /v1/models.</summary>
internal sealed class OpenAiEndpoints(IServingEngine engine, ServerOptions options, ServerMetrics metrics, ServerState state)
{
    /// <summary>Where the authentication middleware leaves the client of a request's API key.</summary>
    public const string ClientItem = "sharpinfer.client";

    private readonly UserClientNames _userClients = new(options.MaxTrackedClients);

    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public Task ListModels(HttpContext context) =>
        WriteJsonAsync(context, 200, new ModelList("list", [ModelCard()]), OpenAiJsonContext.Wire.ModelList);

    public Task GetModel(HttpContext context, string id) => id == options.ModelId
        ? WriteJsonAsync(context, 200, ModelCard(), OpenAiJsonContext.Wire.ModelCard)
        : throw ModelNotFound(id);

    private ModelCard ModelCard() => new(options.ModelId, "model", state.StartedAt.ToUnixTimeSeconds(), "sharpinfer");

    private ApiException ModelNotFound(string id) =>
        new(404, $"the model '{id}' does not exist; this server serves '{options.ModelId}'", ApiException.InvalidRequest, "model", "model_not_found");

    public async Task Completions(HttpContext context)
    {
        long arrival = Stopwatch.GetTimestamp();
        using var body = await ReadBodyAsync(context);
        var request = RequestReader.ReadCompletion(body.RootElement, engine.Tokenizer.VocabularySize, options.MaxChoices);
        var prompts = request.Prompts.Select(p => p.Tokens ?? engine.Tokenizer.Encode(p.Text!, addSpecialTokens: true)).ToList();
        var choices = PlanChoices(context, request.Fields, prompts);
        var reply = new Reply(Id("cmpl"), "text_completion", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), options.ModelId, Chat: false);
        await RespondAsync(context, request.Fields, reply, choices, prompts.Sum(p => p.Count), arrival);
    }

    public async Task ChatCompletions(HttpContext context)
    {
        long arrival = Stopwatch.GetTimestamp();
        using var body = await ReadBodyAsync(context);
        var request = RequestReader.ReadChat(body.RootElement, options.MaxChoices);
        string rendered;
        // A template refusing the messages (say, roles out of order) throws the renderer's own exception type.
        try { rendered = options.ChatRenderer.Render(request.Messages, addGenerationPrompt: true); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new ApiException(400, $"the messages cannot be rendered with the model's chat template: {e.Message}", param: "messages");
        }
        // The template spells the model's control tokens (<|im_start|> ...): they must become those tokens.
        // Templates that write the BOS text themselves ({{ bos_token }}) must not get a second BOS from the tokenizer.
        var tokenizer = engine.Tokenizer;
        bool templateHasBos = tokenizer.BosId >= 0 && tokenizer.TokenText(tokenizer.BosId) is { Length: > 0 } bos && rendered.StartsWith(bos, StringComparison.Ordinal);
        var prompt = tokenizer.Encode(rendered, addSpecialTokens: !templateHasBos, parseSpecial: true);
        var choices = PlanChoices(context, request.Fields, [prompt]);
        var reply = new Reply(Id("chatcmpl"), "chat.completion", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), options.ModelId, Chat: true);
        await RespondAsync(context, request.Fields, reply, choices, prompt.Count, arrival);
    }

    private static string Id(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    private async Task<JsonDocument> ReadBodyAsync(HttpContext context)
    {
        if (state.Draining) throw new ApiException(503, "the server is shutting down and accepts no new requests", ApiException.Server, code: "service_unavailable");
        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new ApiException(400, $"the request body is not valid JSON: {e.Message}");
        }
    }

    /// <summary>The engine requests: n choices for each prompt, in OpenAI's order (prompt by prompt), with their budgets.</summary>
    private List<ServingRequest> PlanChoices(HttpContext context, GenerationFields fields, IReadOnlyList<IReadOnlyList<int>> prompts)
    {
        if (fields.Model is { } model && model != options.ModelId) throw ModelNotFound(model);
        if (fields.MaxTokens > options.MaxTokensLimit)
            throw ApiException.BadField(fields.MaxTokensParam, $"'{fields.MaxTokensParam}' is {fields.MaxTokens}; this server allows at most {options.MaxTokensLimit}");
        int contextLength = engine.ContextLength;
        var budgets = new List<int>(prompts.Count);
        foreach (var prompt in prompts)
        {
            if (prompt.Count == 0) throw ApiException.BadField("prompt", "the prompt has no tokens");
            if (prompt.Count >= contextLength)
                throw new ApiException(400, $"the prompt is {prompt.Count} tokens, which does not fit this model's context of {contextLength} tokens", param: "prompt",
                    code: "context_length_exceeded");
            int maxTokens;
            if (fields.MaxTokens is { } requested)
            {
                if (prompt.Count + requested > contextLength)
                    throw new ApiException(400, $"this model's context is {contextLength} tokens, but {prompt.Count + requested} were requested ({prompt.Count} in the prompt, {requested} to generate)",
                        param: fields.MaxTokensParam, code: "context_length_exceeded");
                maxTokens = requested;
            }
            else maxTokens = Math.Min(contextLength - prompt.Count, options.MaxTokensLimit);
            budgets.Add(maxTokens);
        }
        // Only a request that will run takes one of the limited slots for user-named clients.
        var client = context.Items[ClientItem] as ApiClient
            ?? (string.IsNullOrEmpty(fields.User) ? new ApiClient("anonymous") : new ApiClient(_userClients.Resolve(fields.User)));
        var choices = new List<ServingRequest>(prompts.Count * fields.N);
        for (int p = 0; p < prompts.Count; p++)
        {
            var prompt = prompts[p];
            int maxTokens = budgets[p];
            for (int i = 0; i < fields.N; i++)
            {
                // Seeded choices differ from each other yet stay reproducible: choice i uses seed + i.
                var sampling = fields.Sampling.Seed is { } seed ? fields.Sampling with { Seed = unchecked(seed + (ulong)i) } : fields.Sampling;
                choices.Add(new ServingRequest
                {
                    ClientId = client.Name,
                    ClientWeight = client.Weight,
                    PromptTokens = prompt,
                    Options = new GenerationOptions { MaxTokens = maxTokens, Sampling = sampling, Stop = fields.Stop },
                });
            }
        }
        return choices;
    }

    /// <summary>What every body of one reply shares.</summary>
    private sealed record Reply(string Id, string Object, long Created, string Model, bool Chat);

    private async Task RespondAsync(HttpContext context, GenerationFields fields, Reply reply, List<ServingRequest> choices, int promptTokens, long arrival)
    {
        await using var runner = new ChoiceRunner(engine, choices, metrics, arrival, context.RequestAborted);
        if (fields.Stream) await StreamAsync(context, fields, reply, runner, choices.Count, promptTokens);
        else await CollectAsync(context, reply, runner, choices.Count, promptTokens);
    }

    private static async Task CollectAsync(HttpContext context, Reply reply, ChoiceRunner runner, int count, int promptTokens)
    {
        var texts = Enumerable.Range(0, count).Select(_ => new StringBuilder()).ToArray();
        var stats = new GenerationStats?[count];
        await foreach (var e in runner.ReadAllAsync(context.RequestAborted))
        {
            if (e.Error != null) throw e.Error;
            texts[e.Index].Append(e.Update.Text);
            stats[e.Index] = e.Update.Final ?? stats[e.Index];
        }
        var usage = Usage(promptTokens, stats);
        if (reply.Chat)
        {
            var body = new ChatCompletionResponse(reply.Id, reply.Object, reply.Created, reply.Model,
                [.. texts.Select((t, i) => new ChatChoice(i, new ChatMessageBody("assistant", t.ToString()), null, FinishReasonText(stats[i])))], usage);
            await WriteJsonAsync(context, 200, body, OpenAiJsonContext.Wire.ChatCompletionResponse);
        }
        else
        {
            var body = new CompletionResponse(reply.Id, reply.Object, reply.Created, reply.Model,
                [.. texts.Select((t, i) => new CompletionChoice(t.ToString(), i, null, FinishReasonText(stats[i])))], usage);
            await WriteJsonAsync(context, 200, body, OpenAiJsonContext.Wire.CompletionResponse);
        }
    }

    private static async Task StreamAsync(HttpContext context, GenerationFields fields, Reply reply, ChoiceRunner runner, int count, int promptTokens)
    {
        var response = context.Response;
        var stats = new GenerationStats?[count];
        var roleSent = new bool[count];
        bool started = false;
        string chunkObject = reply.Chat ? "chat.completion.chunk" : reply.Object;
        var abort = context.RequestAborted;
        await foreach (var e in runner.ReadAllAsync(abort))
        {
            if (e.Error != null)
            {
                // Before the first byte the error becomes a proper status (429, 400...); after it, the stream can
                // only say so in an event of its own and end.
                if (!started) throw e.Error;
                await WriteEventAsync(response, ErrorWriter.Body(e.Error, out _), OpenAiJsonContext.Wire.ErrorBody, abort);
                return;
            }
            if (!started)
            {
                response.StatusCode = 200;
                response.ContentType = "text/event-stream";
                response.Headers.CacheControl = "no-cache";
                response.Headers["X-Accel-Buffering"] = "no"; // proxies must pass each event on at once
                context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                started = true;
            }
            var update = e.Update;
            if (update.Final is { } final) stats[e.Index] = final;
            if (update.Text.Length == 0 && update.Final == null) continue;
            if (reply.Chat)
            {
                if (!roleSent[e.Index])
                {
                    roleSent[e.Index] = true;
                    await WriteEventAsync(response, ChatChunk(reply, chunkObject, e.Index, new ChatDelta("assistant", ""), null), OpenAiJsonContext.Wire.ChatCompletionChunk, abort);
                }
                if (update.Text.Length > 0)
                    await WriteEventAsync(response, ChatChunk(reply, chunkObject, e.Index, new ChatDelta(null, update.Text), null), OpenAiJsonContext.Wire.ChatCompletionChunk, abort);
                if (update.Final != null)
                    await WriteEventAsync(response, ChatChunk(reply, chunkObject, e.Index, new ChatDelta(null, null), FinishReasonText(update.Final)), OpenAiJsonContext.Wire.ChatCompletionChunk, abort);
            }
            else
            {
                var chunk = new CompletionResponse(reply.Id, chunkObject, reply.Created, reply.Model,
                    [new CompletionChoice(update.Text, e.Index, null, update.Final == null ? null : FinishReasonText(update.Final))], null);
                await WriteEventAsync(response, chunk, OpenAiJsonContext.Wire.CompletionResponse, abort);
            }
        }
        if (fields.IncludeUsage)
        {
            var usage = Usage(promptTokens, stats);
            if (reply.Chat) await WriteEventAsync(response, new ChatCompletionChunk(reply.Id, chunkObject, reply.Created, reply.Model, [], usage), OpenAiJsonContext.Wire.ChatCompletionChunk, abort);
            else await WriteEventAsync(response, new CompletionResponse(reply.Id, chunkObject, reply.Created, reply.Model, [], usage), OpenAiJsonContext.Wire.CompletionResponse, abort);
        }
        await response.Body.WriteAsync(Done, abort);
        await response.Body.FlushAsync(abort);
    }

    private static ChatCompletionChunk ChatChunk(Reply reply, string chunkObject, int index, ChatDelta delta, string? finish) =>
        new(reply.Id, chunkObject, reply.Created, reply.Model, [new ChatChunkChoice(index, delta, null, finish)], null);

    private static async Task WriteEventAsync<T>(HttpResponse response, T body, JsonTypeInfo<T> type, CancellationToken cancellation)
    {
        await response.Body.WriteAsync(DataPrefix, cancellation);
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(body, type), cancellation);
        await response.Body.WriteAsync(EventEnd, cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    /// <summary>OpenAI counts each prompt once however many choices it has, and every generated token.</summary>
    private static Usage Usage(int promptTokens, GenerationStats?[] stats)
    {
        int completion = stats.Sum(s => s?.GeneratedTokens ?? 0);
        return new Usage(promptTokens, completion, promptTokens + completion);
    }

    /// <summary>OpenAI's finish_reason; a cancelled generation has no reader left, so "stop" is as good as any.</summary>
    private static string FinishReasonText(GenerationStats? stats) => stats?.FinishReason == FinishReason.Length ? "length" : "stop";

    internal static async Task WriteJsonAsync<T>(HttpContext context, int status, T body, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, body, type, context.RequestAborted);
    }
}
