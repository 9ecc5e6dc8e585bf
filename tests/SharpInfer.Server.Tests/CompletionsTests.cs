using System.Text.Json;

namespace SharpInfer.Server.Tests;

/// <summary>One shared server over stories260K for the tests that do not change its configuration.</summary>
public sealed class StoriesServerFixture : IAsyncLifetime
{
    internal RunningServer? Server { get; private set; }

    public async Task InitializeAsync() => Server = await RunningServer.StartStoriesAsync();

    public async Task DisposeAsync()
    {
        if (Server != null) await Server.DisposeAsync();
    }
}

/// <summary>/v1/completions and /v1/chat/completions against the real model, streamed and not, as OpenAI shapes them.</summary>
public sealed class CompletionsTests(StoriesServerFixture fixture) : IClassFixture<StoriesServerFixture>
{
    private const string StoryStart = ", there was a little girl named Lily";

    [Fact]
    public async Task GreedyCompletionContinuesTheStoryWithUsage()
    {
        if (fixture.Server is not { } server) return;
        var (response, body) = await server.PostAsync("/v1/completions",
            """{"model":"stories260K","prompt":"Once upon a time","max_tokens":20,"temperature":0}""");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal("stories260K", body.GetProperty("model").GetString());
        Assert.True(body.GetProperty("created").GetInt64() > 1_700_000_000);
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.StartsWith(StoryStart, choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("logprobs").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("system_fingerprint").ValueKind);
        Assert.StartsWith("req_", Assert.Single(response.Headers.GetValues("x-request-id")));
        var usage = body.GetProperty("usage");
        Assert.Equal(5, usage.GetProperty("prompt_tokens").GetInt32()); // BOS and 4 tokens
        Assert.Equal(20, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(25, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task StreamedCompletionMatchesTheWholeOneAndEndsWithUsageAndDone()
    {
        if (fixture.Server is not { } server) return;
        const string request = """{"prompt":"Once upon a time","max_tokens":20,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""";
        var (events, done) = await server.StreamAsync("/v1/completions", request);
        Assert.True(done);
        var usageEvent = events[^1];
        Assert.Empty(usageEvent.GetProperty("choices").EnumerateArray());
        Assert.Equal(25, usageEvent.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var chunks = events[..^1];
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        string text = string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.StartsWith(StoryStart, text);
        Assert.Equal("length", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.All(chunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));

        var (_, whole) = await server.PostAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":20,"temperature":0}""");
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("text").GetString(), text);
    }

    [Fact]
    public async Task WithoutIncludeUsageTheStreamHasNoUsageChunk()
    {
        if (fixture.Server is not { } server) return;
        var (events, done) = await server.StreamAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":5,"temperature":0,"stream":true}""");
        Assert.True(done);
        Assert.All(events, e => Assert.False(e.TryGetProperty("usage", out _)));
        Assert.All(events, e => Assert.Single(e.GetProperty("choices").EnumerateArray()));
    }

    [Fact]
    public async Task StopStringEndsTheTextBeforeIt()
    {
        if (fixture.Server is not { } server) return;
        var (_, body) = await server.PostAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":40,"temperature":0,"stop":["Lily","dragon"]}""");
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(", there was a little girl named ", choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());

        var (_, single) = await server.PostAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":40,"temperature":0,"stop":"girl"}""");
        Assert.Equal(", there was a little ", single.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task NChoicesUseSeedPlusIndexAndAddUpInUsage()
    {
        if (fixture.Server is not { } server) return;
        var (response, body) = await server.PostAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":12,"seed":42,"n":2}""");
        Assert.Equal(200, (int)response.StatusCode);
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(5, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()); // the prompt counts once
        Assert.Equal(24, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        // Choice 1 of seed 42 is what seed 43 gives alone: reproducible, and distinct seeds per choice.
        var (_, alone) = await server.PostAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":12,"seed":43}""");
        Assert.Equal(alone.GetProperty("choices")[0].GetProperty("text").GetString(), choices[1].GetProperty("text").GetString());
    }

    [Fact]
    public async Task ArraysOfPromptsAndTokenIdsAreAccepted()
    {
        if (fixture.Server is not { } server) return;
        var (_, body) = await server.PostAsync("/v1/completions", """{"prompt":["Once upon a time","Once upon a time"],"max_tokens":8,"temperature":0}""");
        var choices = body.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString()).ToList();
        Assert.Equal(2, choices.Count);
        Assert.Equal(choices[0], choices[1]);
        Assert.Equal(10, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var ids = server.Engine.Tokenizer.Encode("Once upon a time");
        var (_, fromIds) = await server.PostAsync("/v1/completions", $$"""{"prompt":[{{string.Join(",", ids)}}],"max_tokens":8,"temperature":0}""");
        Assert.Equal(choices[0], fromIds.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task ChatCompletionHasTheAssistantMessageAndUsage()
    {
        if (fixture.Server is not { } server) return;
        var (response, body) = await server.PostAsync("/v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"system","content":"You tell stories."},{"role":"user","content":[{"type":"text","text":"Tell me a story."}]}],"max_completion_tokens":10,"temperature":0}""");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.StartsWith("chatcmpl-", body.GetProperty("id").GetString());
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.False(string.IsNullOrEmpty(choice.GetProperty("message").GetProperty("content").GetString()));
        // Fields OpenAI always sends, null here.
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("message").GetProperty("refusal").ValueKind);
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("logprobs").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("system_fingerprint").ValueKind);
        Assert.Contains(choice.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        var usage = body.GetProperty("usage");
        Assert.True(usage.GetProperty("prompt_tokens").GetInt32() > 10);
        Assert.InRange(usage.GetProperty("completion_tokens").GetInt32(), 1, 10);
    }

    [Fact]
    public async Task StreamedChatStartsWithTheRoleAndEndsWithFinishUsageAndDone()
    {
        if (fixture.Server is not { } server) return;
        var (events, done) = await server.StreamAsync("/v1/chat/completions",
            """{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":10,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.True(done);
        Assert.All(events, e => Assert.Equal("chat.completion.chunk", e.GetProperty("object").GetString()));
        Assert.All(events, e => Assert.Equal(JsonValueKind.Null, e.GetProperty("system_fingerprint").ValueKind));
        var first = events[0].GetProperty("choices")[0];
        Assert.Equal("assistant", first.GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("finish_reason").ValueKind);
        var last = events[^2].GetProperty("choices")[0];
        Assert.Contains(last.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        Assert.Empty(events[^1].GetProperty("choices").EnumerateArray());
        int completion = events[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.InRange(completion, 1, 10);
        string content = string.Concat(events.SkipLast(1).Select(e => e.GetProperty("choices")[0].GetProperty("delta"))
            .Select(d => d.TryGetProperty("content", out var c) ? c.GetString() : ""));
        Assert.False(string.IsNullOrEmpty(content));
    }

    [Fact]
    public async Task ModelsListTheServedModelAndHealthIsOk()
    {
        if (fixture.Server is not { } server) return;
        var models = await RunningServer.ReadJsonAsync(await server.Http.GetAsync("/v1/models"));
        Assert.Equal("list", models.GetProperty("object").GetString());
        var model = Assert.Single(models.GetProperty("data").EnumerateArray());
        Assert.Equal("stories260K", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal("sharpinfer", model.GetProperty("owned_by").GetString());

        var health = await server.Http.GetAsync("/health");
        Assert.Equal(200, (int)health.StatusCode);
        Assert.Equal("ok", (await RunningServer.ReadJsonAsync(health)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task MetricsNameEveryEngineClientLatencyAndRequestSeries()
    {
        if (fixture.Server is not { } server) return;
        await server.PostAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":4,"user":"metrics-client"}""");
        string metrics = await server.Http.GetStringAsync("/metrics");
        foreach (string name in new[]
        {
            "sharpinfer_queue_waiting_requests", "sharpinfer_running_requests", "sharpinfer_kv_pages_used", "sharpinfer_kv_pages_total",
            "sharpinfer_prefix_cache_hit_rate", "sharpinfer_time_to_first_token_seconds_bucket", "sharpinfer_inter_token_latency_seconds_bucket",
            "sharpinfer_client_service_total{client=\"metrics-client\"}", "sharpinfer_client_generated_tokens_total{client=\"metrics-client\"} 4",
            "sharpinfer_client_computed_prompt_tokens_total{client=\"metrics-client\"} 5", "sharpinfer_client_requests_total{client=\"metrics-client\"} 1",
            "sharpinfer_http_requests_total{route=\"/v1/completions\",status=\"200\"}",
        })
            Assert.Contains(name, metrics);
    }
}
