using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using SharpInfer.Server.Clients;

namespace SharpInfer.Server.Tests;

/// <summary>The official OpenAI .NET client, disconnects, draining on shutdown, and the API keys file.</summary>
public sealed class ClientAndLifecycleTests(StoriesServerFixture fixture) : IClassFixture<StoriesServerFixture>
{
    private static ChatClient OpenAiChat(RunningServer server) =>
        new("stories260K", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "/v1") });

    [Fact]
    public async Task OfficialOpenAiClientCompletesChatsWholeAndStreamed()
    {
        if (fixture.Server is not { } server) return;
        var chat = OpenAiChat(server);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 };
        ChatCompletion completion = (await chat.CompleteChatAsync([new UserChatMessage("Tell me a story.")], options)).Value;
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.False(string.IsNullOrEmpty(completion.Content[0].Text));
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        foreach (var update in chat.CompleteChatStreaming([new UserChatMessage("Tell me a story.")], options))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(completion.Content[0].Text, streamed.ToString()); // greedy: the same reply either way
        Assert.Equal(completion.FinishReason, finish);
    }

    [Fact]
    public async Task ClientDisconnectMidStreamCancelsTheGeneration()
    {
        var slow = (SlowEngine?)null;
        await using var server = await RunningServer.StartStoriesAsync(wrap: inner => slow = new SlowEngine(inner, TimeSpan.FromMilliseconds(50)));
        if (server == null) return;
        using (var response = await server.PostJsonAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":200,"stream":true}""",
                   completion: HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: {", await reader.ReadLineAsync());
            Assert.Equal(1, server.Engine.Snapshot().Running);
        } // disposing the response closes the connection mid-stream
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.Engine.Snapshot().Running > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, server.Engine.Snapshot().Running);
        Assert.Equal(1, slow!.Cancelled);
    }

    [Fact]
    public async Task ShutdownDrainsRunningRequestsWhileHealthSays503()
    {
        await using var server = await RunningServer.StartStoriesAsync(
            o => o with { DrainTimeout = TimeSpan.FromSeconds(20) }, wrap: inner => new SlowEngine(inner, TimeSpan.FromMilliseconds(20)));
        if (server == null) return;
        var stream = server.StreamAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":40,"temperature":0,"stream":true}""");
        while (server.Engine.Snapshot().Running == 0) await Task.Delay(10);
        var stopping = server.App.StopAsync();

        using var probe = new HttpClient { BaseAddress = server.BaseAddress };
        var health = await probe.GetAsync("/health");
        Assert.Equal(503, (int)health.StatusCode);
        var (refused, body) = await server.PostAsync("/v1/completions", """{"prompt":"hi","max_tokens":2}""");
        Assert.Equal(503, (int)refused.StatusCode);
        Assert.Equal("server_error", body.GetProperty("error").GetProperty("type").GetString());

        var (events, done) = await stream;
        Assert.True(done); // the running request finished whole
        Assert.Equal("length", events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        await stopping;
    }

    [Fact]
    public void ApiKeysFileReadsClientsAndWeightsAndNamesBadLines()
    {
        var keys = ApiKeysFile.Parse(["# key client weight", "", "sk-1 alice", "sk-2 bob 2.5  # heavy", "sk-3 alice"], "keys.txt");
        Assert.Equal(new ApiClient("alice", 1), keys["sk-1"]);
        Assert.Equal(new ApiClient("bob", 2.5), keys["sk-2"]);
        Assert.Equal("alice", keys["sk-3"].Name);

        Assert.Equal("keys.txt:2: expected '<key> <client-name> [weight]', found 1 field(s)",
            Assert.Throws<ApiKeysFormatException>(() => ApiKeysFile.Parse(["sk-1 alice", "lonely"], "keys.txt")).Message);
        Assert.StartsWith("keys.txt:1: weight 'heavy'", Assert.Throws<ApiKeysFormatException>(() => ApiKeysFile.Parse(["sk-1 alice heavy"], "keys.txt")).Message);
        Assert.StartsWith("keys.txt:1: weight '0'", Assert.Throws<ApiKeysFormatException>(() => ApiKeysFile.Parse(["sk-1 alice 0"], "keys.txt")).Message);
        Assert.StartsWith("keys.txt:2:", Assert.Throws<ApiKeysFormatException>(() => ApiKeysFile.Parse(["sk-1 alice", "sk-1 bob"], "keys.txt")).Message);
        Assert.Contains("no keys", Assert.Throws<ApiKeysFormatException>(() => ApiKeysFile.Parse(["# nothing"], "keys.txt")).Message);
    }
}
