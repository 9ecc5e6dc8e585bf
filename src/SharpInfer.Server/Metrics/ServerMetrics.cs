using Prometheus;
using SharpInfer.Engine.Serving;

namespace SharpInfer.Server.Metrics;

/// <summary>
/// The metrics /metrics exports, in a registry of this server's own (so several servers in one process, as in
/// tests, do not share counters). Engine gauges and per-client counters are read from the engine's snapshot at
/// scrape time; latencies and request outcomes are recorded by the HTTP layer as they happen.
/// </summary>
internal sealed class ServerMetrics
{
    private readonly Gauge _waiting, _running, _kvPagesUsed, _kvPagesTotal, _kvPageSize, _prefixHitRate, _clientWaiting;
    private readonly Counter _promptTokens, _prefixHitTokens, _generatedTokens, _steps;
    private readonly Counter _clientService, _clientGenerated, _clientComputedPrompt, _clientRequests;
    private readonly Histogram _timeToFirstToken, _interTokenLatency;
    private readonly Counter _httpRequests;

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    public ServerMetrics(IServingEngine engine)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _waiting = factory.CreateGauge("sharpinfer_queue_waiting_requests", "Requests waiting for admission to the engine.");
        _running = factory.CreateGauge("sharpinfer_running_requests", "Requests the engine is generating for.");
        _kvPagesUsed = factory.CreateGauge("sharpinfer_kv_pages_used", "KV cache pages in use.");
        _kvPagesTotal = factory.CreateGauge("sharpinfer_kv_pages_total", "KV cache pages in the pool.");
        _kvPageSize = factory.CreateGauge("sharpinfer_kv_page_size_tokens", "Tokens per KV cache page.");
        _prefixHitRate = factory.CreateGauge("sharpinfer_prefix_cache_hit_rate", "Fraction of admitted prompt tokens whose KV came from the prefix cache.");
        _promptTokens = factory.CreateCounter("sharpinfer_prompt_tokens_total", "Prompt tokens admitted.");
        _prefixHitTokens = factory.CreateCounter("sharpinfer_prefix_cache_hit_tokens_total", "Prompt tokens served from the prefix cache.");
        _generatedTokens = factory.CreateCounter("sharpinfer_generated_tokens_total", "Tokens generated.");
        _steps = factory.CreateCounter("sharpinfer_engine_steps_total", "Engine forward steps.");
        string[] client = ["client"];
        _clientService = factory.CreateCounter("sharpinfer_client_service_total", "Weighted service a client received (the fair schedulers' measure).", client);
        _clientGenerated = factory.CreateCounter("sharpinfer_client_generated_tokens_total", "Tokens generated for a client.", client);
        _clientComputedPrompt = factory.CreateCounter("sharpinfer_client_computed_prompt_tokens_total", "Prompt tokens computed for a client (prefix-cache hits excluded).", client);
        _clientRequests = factory.CreateCounter("sharpinfer_client_requests_total", "Generations finished for a client.", client);
        _clientWaiting = factory.CreateGauge("sharpinfer_client_waiting_requests", "A client's requests waiting for admission (backlogged while above 0).", client);
        _timeToFirstToken = factory.CreateHistogram("sharpinfer_time_to_first_token_seconds", "Time from a request's arrival to its first token.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
        _interTokenLatency = factory.CreateHistogram("sharpinfer_inter_token_latency_seconds", "Time between consecutive tokens of one generation.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });
        _httpRequests = factory.CreateCounter("sharpinfer_http_requests_total", "HTTP requests by route and outcome (status code, or 'cancelled').", ["route", "status"]);
        Registry.AddBeforeCollectCallback(() => Refresh(engine.Snapshot()));
    }

    private void Refresh(EngineSnapshot snapshot)
    {
        _waiting.Set(snapshot.Waiting);
        _running.Set(snapshot.Running);
        _kvPagesUsed.Set(snapshot.KvPagesUsed);
        _kvPagesTotal.Set(snapshot.KvPagesTotal);
        _kvPageSize.Set(snapshot.PageSize);
        _prefixHitRate.Set(snapshot.PrefixCacheHitRate);
        // The engine keeps the running totals; the counters follow them (IncTo never moves a counter backwards).
        _promptTokens.IncTo(snapshot.PromptTokens);
        _prefixHitTokens.IncTo(snapshot.PrefixCacheHitTokens);
        _generatedTokens.IncTo(snapshot.GeneratedTokens);
        _steps.IncTo(snapshot.Steps);
        foreach (var (name, counters) in snapshot.Clients)
        {
            _clientService.WithLabels(name).IncTo(counters.Service);
            _clientGenerated.WithLabels(name).IncTo(counters.GeneratedTokens);
            _clientComputedPrompt.WithLabels(name).IncTo(counters.ComputedPromptTokens);
            _clientRequests.WithLabels(name).IncTo(counters.Requests);
            _clientWaiting.WithLabels(name).Set(counters.Waiting);
        }
    }

    public void ObserveTimeToFirstToken(TimeSpan elapsed) => _timeToFirstToken.Observe(elapsed.TotalSeconds);
    public void ObserveInterTokenLatency(TimeSpan elapsed) => _interTokenLatency.Observe(elapsed.TotalSeconds);
    public void CountRequest(string route, string status) => _httpRequests.WithLabels(route, status).Inc();
}
