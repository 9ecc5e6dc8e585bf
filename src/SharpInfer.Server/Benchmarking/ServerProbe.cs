using System.Globalization;
using SharpInfer.Engine.Serving;

namespace SharpInfer.Server.Benchmarking;

/// <summary>A client's counters at one moment.</summary>
public readonly record struct ClientSample(long ComputedPromptTokens, long GeneratedTokens, int Waiting);

/// <summary>The server counters a benchmark samples over time.</summary>
public sealed record ServerSample
{
    /// <summary>Seconds since the benchmark's clock started.</summary>
    public double Time { get; init; }
    public IReadOnlyDictionary<string, ClientSample> Clients { get; init; } = new Dictionary<string, ClientSample>();
    public int KvPagesUsed { get; init; }
    public int PageSize { get; init; }
    public long PromptTokens { get; init; }
    public long PrefixCacheHitTokens { get; init; }
    public long GeneratedTokens { get; init; }
    public int Waiting { get; init; }
    public int Running { get; init; }
}

/// <summary>Reads the server's counters: from the engine in-process, or from /metrics of a remote server.</summary>
public interface IServerProbe
{
    Task<ServerSample> SampleAsync(double time, CancellationToken cancellation);
}

/// <summary>Samples an in-process engine directly (no HTTP round trip, so 100 ms sampling costs nothing).</summary>
public sealed class EngineProbe(IServingEngine engine) : IServerProbe
{
    public Task<ServerSample> SampleAsync(double time, CancellationToken cancellation)
    {
        var snapshot = engine.Snapshot();
        return Task.FromResult(new ServerSample
        {
            Time = time,
            Clients = snapshot.Clients.ToDictionary(c => c.Key, c => new ClientSample(c.Value.ComputedPromptTokens, c.Value.GeneratedTokens, c.Value.Waiting)),
            KvPagesUsed = snapshot.KvPagesUsed,
            PageSize = snapshot.PageSize,
            PromptTokens = snapshot.PromptTokens,
            PrefixCacheHitTokens = snapshot.PrefixCacheHitTokens,
            GeneratedTokens = snapshot.GeneratedTokens,
            Waiting = snapshot.Waiting,
            Running = snapshot.Running,
        });
    }
}

/// <summary>Samples a server's Prometheus /metrics (the per-client counters and KV gauges `sharpinfer serve` exports).</summary>
public sealed class MetricsProbe(HttpClient http, Uri baseAddress) : IServerProbe
{
    private readonly Uri _metrics = new(baseAddress, "/metrics");

    /// <summary>How long one read of /metrics may take before the server counts as not answering.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <exception cref="ServerProbeException">the server could not be reached or did not answer within <see cref="Timeout"/>.</exception>
    public async Task<ServerSample> SampleAsync(double time, CancellationToken cancellation)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(Timeout);
        string text;
        try { text = await http.GetStringAsync(_metrics, deadline.Token); }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new ServerProbeException($"GET {_metrics} got no answer within {Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException e)
        {
            throw new ServerProbeException($"GET {_metrics} failed: {e.Message}");
        }
        return Parse(text, time);
    }

    /// <summary>Reads the sharpinfer_* series out of Prometheus text exposition format.</summary>
    public static ServerSample Parse(string text, double time)
    {
        var prompt = new Dictionary<string, long>();
        var generated = new Dictionary<string, long>();
        var waiting = new Dictionary<string, int>();
        var sample = new ServerSample { Time = time };
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            if (!TryParseLine(line, out string name, out string? client, out double value)) continue;
            switch (name)
            {
                case "sharpinfer_kv_pages_used": sample = sample with { KvPagesUsed = (int)value }; break;
                case "sharpinfer_kv_page_size_tokens": sample = sample with { PageSize = (int)value }; break;
                case "sharpinfer_prompt_tokens_total": sample = sample with { PromptTokens = (long)value }; break;
                case "sharpinfer_prefix_cache_hit_tokens_total": sample = sample with { PrefixCacheHitTokens = (long)value }; break;
                case "sharpinfer_generated_tokens_total": sample = sample with { GeneratedTokens = (long)value }; break;
                case "sharpinfer_queue_waiting_requests": sample = sample with { Waiting = (int)value }; break;
                case "sharpinfer_running_requests": sample = sample with { Running = (int)value }; break;
                case "sharpinfer_client_computed_prompt_tokens_total" when client != null: prompt[client] = (long)value; break;
                case "sharpinfer_client_generated_tokens_total" when client != null: generated[client] = (long)value; break;
                case "sharpinfer_client_waiting_requests" when client != null: waiting[client] = (int)value; break;
            }
        }
        var names = prompt.Keys.Union(generated.Keys).Union(waiting.Keys);
        return sample with
        {
            Clients = names.ToDictionary(n => n, n => new ClientSample(prompt.GetValueOrDefault(n), generated.GetValueOrDefault(n), waiting.GetValueOrDefault(n))),
        };
    }

    /// <summary>One `name{labels} value` line; only the client label is kept.</summary>
    private static bool TryParseLine(string line, out string name, out string? client, out double value)
    {
        client = null;
        value = 0;
        int brace = line.IndexOf('{');
        int space;
        if (brace >= 0)
        {
            name = line[..brace];
            int end = line.LastIndexOf('}');
            if (end < brace) return false;
            client = LabelValue(line[(brace + 1)..end], "client");
            space = end + 1;
        }
        else
        {
            space = line.IndexOf(' ');
            if (space < 0) { name = line; return false; }
            name = line[..space];
        }
        var rest = line[space..].Trim().Split(' ', 2)[0];
        return double.TryParse(rest, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private static string? LabelValue(string labels, string wanted)
    {
        int i = 0;
        while (i < labels.Length)
        {
            int eq = labels.IndexOf('=', i);
            if (eq < 0 || eq + 1 >= labels.Length || labels[eq + 1] != '"') return null;
            string key = labels[i..eq].Trim().TrimStart(',').Trim();
            var valueText = new System.Text.StringBuilder();
            int j = eq + 2;
            for (; j < labels.Length && labels[j] != '"'; j++)
            {
                if (labels[j] == '\\' && j + 1 < labels.Length)
                {
                    j++;
                    valueText.Append(labels[j] == 'n' ? '\n' : labels[j]);
                }
                else valueText.Append(labels[j]);
            }
            if (key == wanted) return valueText.ToString();
            i = j + 1;
        }
        return null;
    }
}

/// <summary>A benchmarked server that cannot be reached or does not answer; the message names the URL.</summary>
public sealed class ServerProbeException(string message) : Exception(message);
