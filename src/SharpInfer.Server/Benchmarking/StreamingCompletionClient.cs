using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace SharpInfer.Server.Benchmarking;

/// <summary>How one benchmark request ended.</summary>
public enum CompletionStatus
{
    /// <summary>The stream ended with [DONE].</summary>
    Completed,
    /// <summary>429: the server's queue was full (a designed refusal, retried by the load test).</summary>
    Rejected,
    /// <summary>The benchmark cancelled it (its window ended).</summary>
    Cancelled,
    /// <summary>Anything else: another status, a broken stream, an error event, a network error.</summary>
    Failed,
}

/// <summary>One request's timings, in seconds on the benchmark's clock.</summary>
public sealed record CompletionOutcome(CompletionStatus Status, double Sent, double? FirstToken, double? Finished, int OutputTokens,
    TimeSpan? RetryAfter = null, string? Error = null)
{
    public double? TimeToFirstToken => FirstToken - Sent;
}

/// <summary>
/// Sends streaming /v1/completions requests with token-id prompts (so prompt lengths are exact) and times the first
/// streamed token (TTFT) and the end of each; the usage chunk gives the tokens generated.
/// </summary>
public sealed class StreamingCompletionClient(HttpClient http, Uri baseAddress)
{
    private readonly Uri _completions = new(baseAddress, "/v1/completions");

    /// <summary>An HttpClient for many concurrent streams to one server (no per-server connection cap, no timeout: callers cancel).</summary>
    public static HttpClient CreateHttpClient() => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AutomaticDecompression = DecompressionMethods.None,
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    public async Task<CompletionOutcome> SendAsync(string client, IReadOnlyList<int> prompt, int maxTokens, Stopwatch clock, CancellationToken cancellation)
    {
        double sent = clock.Elapsed.TotalSeconds;
        double? first = null;
        int outputTokens = 0;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _completions) { Content = new ByteArrayContent(Body(client, prompt, maxTokens)) };
            request.Content.Headers.ContentType = new("application/json");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                var retry = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                return new CompletionOutcome(CompletionStatus.Rejected, sent, null, clock.Elapsed.TotalSeconds, 0, retry);
            }
            if (!response.IsSuccessStatusCode)
            {
                string body = await response.Content.ReadAsStringAsync(cancellation);
                return Failed($"HTTP {(int)response.StatusCode}: {Truncate(body)}");
            }
            await using var stream = await response.Content.ReadAsStreamAsync(cancellation);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (await reader.ReadLineAsync(cancellation) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                var data = line.AsMemory(6);
                if (data.Span.SequenceEqual("[DONE]"))
                    return new CompletionOutcome(CompletionStatus.Completed, sent, first, clock.Elapsed.TotalSeconds, outputTokens);
                using var json = JsonDocument.Parse(data);
                var root = json.RootElement;
                if (root.TryGetProperty("error", out var error)) return Failed($"error event: {Truncate(error.ToString())}");
                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    outputTokens = usage.GetProperty("completion_tokens").GetInt32();
                // The first event with a choice is the first token (the server streams one event per token with text).
                if (first == null && root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
                    first = clock.Elapsed.TotalSeconds;
            }
            return Failed("the stream ended without [DONE]");
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return new CompletionOutcome(CompletionStatus.Cancelled, sent, first, null, outputTokens);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return Failed($"{e.GetType().Name}: {e.Message}");
        }

        CompletionOutcome Failed(string why) => new(CompletionStatus.Failed, sent, first, clock.Elapsed.TotalSeconds, outputTokens, Error: why);
    }

    private static byte[] Body(string client, IReadOnlyList<int> prompt, int maxTokens)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("prompt");
            foreach (int t in prompt) w.WriteNumberValue(t);
            w.WriteEndArray();
            w.WriteNumber("max_tokens", maxTokens);
            w.WriteNumber("temperature", 0);
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            w.WriteString("user", client);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200] + "...";
}
