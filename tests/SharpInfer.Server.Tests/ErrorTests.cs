using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SharpInfer.Engine.Serving;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;
using SharpInfer.Server.Clients;
using SharpInfer.Tests;

namespace SharpInfer.Server.Tests;

/// <summary>Every refusal has its HTTP status and an OpenAI error body; the server keeps serving after each.</summary>
public sealed class ErrorTests(StoriesServerFixture fixture) : IClassFixture<StoriesServerFixture>
{
    private static JsonElement AssertError(HttpResponseMessage response, JsonElement body, int status, string? param = null, string type = "invalid_request_error")
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.DoesNotContain('\n', error.GetProperty("message").GetString()!);
        Assert.Equal(type, error.GetProperty("type").GetString());
        if (param != null) Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.True(error.TryGetProperty("code", out _));
        Assert.StartsWith("req_", Assert.Single(response.Headers.GetValues("x-request-id"))); // the SDKs report it with the error
        return error;
    }

    [Theory]
    [InlineData("""{"prompt":"hi","temperature":"hot"}""", "temperature")]
    [InlineData("""{"prompt":"hi","temperature":3}""", "temperature")]
    [InlineData("""{"prompt":"hi","top_p":0}""", "top_p")]
    [InlineData("""{"prompt":"hi","top_k":1.5}""", "top_k")]
    [InlineData("""{"prompt":"hi","min_p":2}""", "min_p")]
    [InlineData("""{"prompt":"hi","max_tokens":0}""", "max_tokens")]
    [InlineData("""{"prompt":"hi","max_tokens":5000}""", "max_tokens")]
    [InlineData("""{"prompt":"hi","n":0}""", "n")]
    [InlineData("""{"prompt":"hi","stop":[1]}""", "stop")]
    [InlineData("""{"prompt":"hi","stream":"yes"}""", "stream")]
    [InlineData("""{"prompt":"hi","stream_options":{"include_usage":1}}""", "stream_options.include_usage")]
    [InlineData("""{"prompt":"hi","presence_penalty":-3}""", "presence_penalty")]
    [InlineData("""{"prompt":"hi","seed":"x"}""", "seed")]
    [InlineData("""{"prompt":7}""", "prompt")]
    [InlineData("""{"prompt":[999999]}""", "prompt")]
    [InlineData("""{"max_tokens":4}""", "prompt")]
    [InlineData("""{"prompt":"hi","user":7}""", "user")]
    public async Task BadCompletionFieldsGet400NamingTheField(string json, string param)
    {
        if (fixture.Server is not { } server) return;
        var (response, body) = await server.PostAsync("/v1/completions", json);
        var error = AssertError(response, body, 400, param);
        Assert.Contains(param.Split('.')[^1], error.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("""{"messages":"hi"}""", "messages")]
    [InlineData("""{"messages":[]}""", "messages")]
    [InlineData("""{"messages":[{"content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0]")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-1}""", "max_completion_tokens")]
    public async Task BadChatFieldsGet400NamingTheField(string json, string param)
    {
        if (fixture.Server is not { } server) return;
        var (response, body) = await server.PostAsync("/v1/chat/completions", json);
        AssertError(response, body, 400, param);
    }

    [Fact]
    public async Task AUserNameLongerThanTheLimitGets400()
    {
        if (fixture.Server is not { } server) return;
        var (response, body) = await server.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = "hi", max_tokens = 1, user = new string('u', 257) }));
        Assert.Contains("256", AssertError(response, body, 400, "user").GetProperty("message").GetString());
    }

    [Fact]
    public async Task InvalidJsonGets400()
    {
        if (fixture.Server is not { } server) return;
        var (response, body) = await server.PostAsync("/v1/completions", """{"prompt": "hi",""");
        Assert.Contains("not valid JSON", AssertError(response, body, 400).GetProperty("message").GetString());
        var (array, arrayBody) = await server.PostAsync("/v1/chat/completions", "[1,2]");
        AssertError(array, arrayBody, 400);
    }

    [Fact]
    public async Task PromptAndMaxTokensBeyondTheContextGet400()
    {
        if (fixture.Server is not { } server) return;
        int context = server.Engine.ContextLength;
        var (response, body) = await server.PostAsync("/v1/completions", $$"""{"prompt":"Once upon a time","max_tokens":{{context}}}""");
        Assert.Equal("context_length_exceeded", AssertError(response, body, 400, "max_tokens").GetProperty("code").GetString());

        string longPrompt = string.Join(" ", Enumerable.Repeat("Once upon a time", context));
        var (tooLong, tooLongBody) = await server.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = longPrompt }));
        AssertError(tooLong, tooLongBody, 400, "prompt");
    }

    [Fact]
    public async Task UnknownRoutesAndModelsGet404AndWrongMethods405()
    {
        if (fixture.Server is not { } server) return;
        var missing = await server.Http.GetAsync("/v1/nothing-here");
        // OpenAI's own 404s are invalid_request_error, told apart by status and code.
        AssertError(missing, await RunningServer.ReadJsonAsync(missing), 404);
        var (model, modelBody) = await server.PostAsync("/v1/completions", """{"model":"gpt-4","prompt":"hi"}""");
        Assert.Equal("model_not_found", AssertError(model, modelBody, 404, "model").GetProperty("code").GetString());
        var wrongMethod = await server.Http.GetAsync("/v1/completions");
        AssertError(wrongMethod, await RunningServer.ReadJsonAsync(wrongMethod), 405);
        Assert.Equal("POST", Assert.Single(wrongMethod.Content.Headers.Allow));
    }

    [Fact]
    public async Task BodiesAboveTheLimitGet413()
    {
        if (fixture.Server is not { } server) return;
        string json = JsonSerializer.Serialize(new { prompt = new string('a', (1 << 20) + 10) });
        // The client asks before it uploads (as curl does for large bodies): the server refuses on the
        // Content-Length alone and closes the connection, so a client still writing the megabyte would
        // see a broken pipe instead of the 413.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        using var response = await server.Http.SendAsync(request);
        AssertError(response, await RunningServer.ReadJsonAsync(response), 413);
        Assert.Equal(200, (int)(await server.Http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task ApiKeysAreRequiredWhenConfiguredAndNameTheClient()
    {
        var keys = ApiKeysFile.Parse(["# test keys", "sk-alice alice 2", "sk-bob bob"], "keys.txt");
        await using var server = await RunningServer.StartStoriesAsync(o => o with { ApiKeys = keys });
        if (server == null) return;
        const string request = """{"prompt":"Once upon a time","max_tokens":3,"user":"someone-else"}""";
        var (missing, missingBody) = await server.PostAsync("/v1/completions", request);
        Assert.Equal("invalid_api_key", AssertError(missing, missingBody, 401).GetProperty("code").GetString());
        Assert.Equal("Bearer", Assert.Single(missing.Headers.WwwAuthenticate).Scheme);
        var (wrong, wrongBody) = await server.PostAsync("/v1/completions", request, apiKey: "sk-mallory");
        Assert.Equal("invalid_api_key", AssertError(wrong, wrongBody, 401).GetProperty("code").GetString());
        var models = await server.Http.GetAsync("/v1/models");
        Assert.Equal(401, (int)models.StatusCode);
        Assert.Equal(200, (int)(await server.Http.GetAsync("/health")).StatusCode); // probes need no key

        var (ok, _) = await server.PostAsync("/v1/completions", request, apiKey: "sk-alice");
        Assert.Equal(200, (int)ok.StatusCode);
        var clients = server.Engine.Snapshot().Clients;
        Assert.Equal(1, clients["alice"].Requests); // the key's client, not the request's user field
        Assert.False(clients.ContainsKey("someone-else"));
    }

    [Fact]
    public async Task AFullQueueGets429WithRetryAfterStreamedOrNot()
    {
        await using var server = await RunningServer.StartStoriesAsync(maxQueue: 0);
        if (server == null) return;
        foreach (string json in new[] { """{"prompt":"hi","max_tokens":3}""", """{"prompt":"hi","max_tokens":3,"stream":true}""" })
        {
            var (response, body) = await server.PostAsync("/v1/completions", json);
            // OpenAI names the kind of limit as the type; its clients wait retry-after-ms, else Retry-After, before retrying.
            Assert.Equal("rate_limit_exceeded", AssertError(response, body, 429, type: "requests").GetProperty("code").GetString());
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
            Assert.True(long.Parse(Assert.Single(response.Headers.GetValues("retry-after-ms"))) >= 1);
        }
    }

    [Fact]
    public async Task AnEngineFailureGets500JsonAndTheServerGoesOn()
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return;
        using var model = LlamaModel.Load(path, threads: 1);
        var engine = new FailingEngine(Tokenizer.Create(GgufVocabulary.Read(model.File)), () => new InvalidOperationException("the engine broke"));
        await using var server = await RunningServer.StartAsync(engine);
        foreach (string json in new[] { """{"prompt":"hi","max_tokens":3}""", """{"prompt":"hi","max_tokens":3,"stream":true}""" })
        {
            var (response, body) = await server.PostAsync("/v1/completions", json);
            Assert.Contains("the engine broke", AssertError(response, body, 500, type: "server_error").GetProperty("message").GetString());
        }
        Assert.Equal(200, (int)(await server.Http.GetAsync("/health")).StatusCode);
    }
}
