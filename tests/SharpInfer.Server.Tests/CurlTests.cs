using System.Text.Json;
using SharpInfer.Tests;

namespace SharpInfer.Server.Tests;

/// <summary>The real curl binary against /v1/completions, as the README shows it: a whole reply and an -N stream.</summary>
public sealed class CurlTests(StoriesServerFixture fixture) : IClassFixture<StoriesServerFixture>
{
    private const string StoryStart = ", there was a little girl named Lily";

    [Fact]
    public async Task CurlGetsAWholeCompletionAsTheReadmeShows()
    {
        if (fixture.Server is not { } server || TestEnvironment.Program("curl") is not { } curl) return;
        // The README's command: -d without a Content-Type header (curl then says form-urlencoded); the body is JSON anyway.
        var run = await ExternalProgram.RunAsync(curl,
            ["-sS", "--max-time", "60", "-w", "\n%{http_code} %{content_type}", Url(server),
             "-d", """{"prompt":"Once upon a time","max_tokens":20,"temperature":0}"""]);
        Assert.True(run.ExitCode == 0, run.Transcript);
        int split = run.StandardOutput.LastIndexOf('\n');
        Assert.Equal("200 application/json", run.StandardOutput[(split + 1)..]);
        var body = JsonDocument.Parse(run.StandardOutput[..split]).RootElement;
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.StartsWith(StoryStart, choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(25, body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task CurlStreamsServerSentEventsWithDashN()
    {
        if (fixture.Server is not { } server || TestEnvironment.Program("curl") is not { } curl) return;
        var run = await ExternalProgram.RunAsync(curl,
            ["-sS", "-N", "--max-time", "60", Url(server), "-H", "Content-Type: application/json",
             "-d", """{"prompt":"Once upon a time","max_tokens":20,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}"""]);
        Assert.True(run.ExitCode == 0, run.Transcript);
        // Server-sent events: "data: ..." lines, each event ended by a blank line, the last one [DONE].
        string[] events = run.StandardOutput.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1].TrimEnd());
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        var usage = chunks[^1];
        Assert.Empty(usage.GetProperty("choices").EnumerateArray());
        Assert.Equal(20, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var textChunks = chunks[..^1];
        Assert.True(textChunks.Count > 2, "the text came in one piece, not streamed");
        string text = string.Concat(textChunks.Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.StartsWith(StoryStart, text);
        Assert.Equal("length", textChunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    private static string Url(RunningServer server) => new Uri(server.BaseAddress, "/v1/completions").ToString();
}
