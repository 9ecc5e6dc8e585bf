using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Serving;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Server.Tests;

/// <summary>Per-client metrics stay bounded however many names clients choose for themselves.</summary>
public sealed partial class MetricsTests
{
    [Fact]
    public async Task ClientLabelsAreCappedAndTheRestAreSummedUnderOther()
    {
        // 1,200 clients in the engine plus its own overflow client; the default cap is 1,000 labels.
        var clients = Enumerable.Range(0, 1200).ToDictionary(i => $"user-{i:D4}", i => new ClientCounters(10, i, 1, 0.5));
        clients["other"] = new ClientCounters(10, 7, 1, 0.5);
        var engine = new SnapshotEngine { Current = new EngineSnapshot { Clients = clients } };
        await using var server = await RunningServer.StartAsync(engine);

        var generated = ClientSeries(await server.Http.GetStringAsync("/metrics"), "sharpinfer_client_generated_tokens_total");
        Assert.Equal(1001, generated.Count);
        Assert.True(generated.ContainsKey("other"));
        // Dictionary order decides which 1,000 got labels; whichever they are, the sum is conserved.
        long total = clients.Values.Sum(c => c.GeneratedTokens);
        Assert.Equal(total, generated.Values.Sum());
        Assert.Equal(total - generated.Where(g => g.Key != "other").Sum(g => g.Value), generated["other"]);
        var requests = ClientSeries(await server.Http.GetStringAsync("/metrics"), "sharpinfer_client_requests_total");
        Assert.Equal(1201 - 1000, requests["other"]);

        // Every client grows and 300 newcomers arrive: the labelled stay labelled, the newcomers join "other".
        var grown = clients.ToDictionary(c => c.Key, c => c.Value with { GeneratedTokens = c.Value.GeneratedTokens + 1 });
        foreach (int i in Enumerable.Range(2000, 300)) grown[$"user-{i}"] = new ClientCounters(1, 2, 1, 0.1);
        engine.Current = new EngineSnapshot { Clients = grown };
        var after = ClientSeries(await server.Http.GetStringAsync("/metrics"), "sharpinfer_client_generated_tokens_total");
        Assert.Equal(generated.Keys.Order(), after.Keys.Order());
        Assert.All(generated.Keys.Where(k => k != "other"), k => Assert.Equal(generated[k] + 1, after[k]));
        Assert.Equal(generated["other"] + 201 + 300 * 2, after["other"]);
    }

    [Fact]
    public async Task UserNamesBeyondTheLimitShareOneClientInTheEngineAndMetrics()
    {
        await using var server = await RunningServer.StartStoriesAsync(o => o with { MaxTrackedClients = 2 });
        if (server == null) return;
        foreach (string user in new[] { "ann", "bob", "cat", "dan", "ann" })
        {
            var (response, _) = await server.PostAsync("/v1/completions", $$"""{"prompt":"Once upon a time","max_tokens":1,"user":"{{user}}"}""");
            Assert.Equal(200, (int)response.StatusCode);
        }
        var engineClients = server.Engine.Snapshot().Clients;
        Assert.Equal(["ann", "bob", "other"], engineClients.Keys.Order());
        Assert.Equal(2, engineClients["ann"].Requests);
        Assert.Equal(2, engineClients["other"].Requests); // cat and dan
        var requests = ClientSeries(await server.Http.GetStringAsync("/metrics"), "sharpinfer_client_requests_total");
        Assert.Equal(new Dictionary<string, long> { ["ann"] = 2, ["bob"] = 1, ["other"] = 2 }, requests);
    }

    /// <summary>The value of each client's series of one metric in a Prometheus text scrape.</summary>
    private static Dictionary<string, long> ClientSeries(string scrape, string metric) =>
        SeriesLine().Matches(scrape).Where(m => m.Groups["metric"].Value == metric)
            .ToDictionary(m => m.Groups["client"].Value, m => (long)double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex("""^(?<metric>\w+)\{client="(?<client>[^"]*)"\} (?<value>\S+)$""", RegexOptions.Multiline)]
    private static partial Regex SeriesLine();

    /// <summary>An engine that only answers snapshots, for the metrics of clients no real run would make.</summary>
    private sealed class SnapshotEngine : IServingEngine
    {
        public volatile EngineSnapshot Current = new();
        public ITokenizer Tokenizer => throw new NotSupportedException("this engine only answers snapshots");
        public int ContextLength => 512;

        public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(ServingRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
        {
            await Task.Yield();
            throw new NotSupportedException("this engine only answers snapshots");
#pragma warning disable CS0162 // an iterator needs a yield
            yield break;
#pragma warning restore CS0162
        }

        public EngineSnapshot Snapshot() => Current;
        public Task DrainAsync(CancellationToken cancellation = default) => Task.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
