using Prometheus;
using SharpInfer.Engine.Serving;
using SharpInfer.Server.Clients;

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
    private readonly int _maxClientLabels;
    /// <summary>Clients with a label of their own; only the first ones seen get one, and keep it.</summary>
    private readonly HashSet<string> _labelledClients = new(StringComparer.Ordinal);

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    /// <param name="maxClientLabels">Most distinct client label values; clients beyond are summed under "other".</param>
    public ServerMetrics(IServingEngine engine, int maxClientLabels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxClientLabels, 1);
        _maxClientLabels = maxClientLabels;
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
        RefreshClients(snapshot.Clients);
    }

    /// <summary>
    /// Every label value is a series kept for the life of the process, so the set is capped. The clients beyond
    /// the cap (and the engine's own overflow client) are summed under one label; that sum only grows, as
    /// IncTo needs, because a client once beyond the cap stays beyond it and each client's counters only grow.
    /// </summary>
    private void RefreshClients(IReadOnlyDictionary<string, ClientCounters> clients)
    {
        lock (_labelledClients) // scrapes may overlap
        {
            double otherService = 0;
            long otherGenerated = 0, otherPrompt = 0, otherRequests = 0, otherWaiting = 0;
            bool anyOther = false;
            foreach (var (name, counters) in clients)
            {
                bool labelled = name != UserClientNames.Overflow &&
                    (_labelledClients.Contains(name) || (_labelledClients.Count < _maxClientLabels && _labelledClients.Add(name)));
                if (labelled)
                {
                    Set(name, counters.Service, counters.GeneratedTokens, counters.ComputedPromptTokens, counters.Requests, counters.Waiting);
                    continue;
                }
                anyOther = true;
                otherService += counters.Service;
                otherGenerated += counters.GeneratedTokens;
                otherPrompt += counters.ComputedPromptTokens;
                otherRequests += counters.Requests;
                otherWaiting += counters.Waiting;
            }
            if (anyOther) Set(UserClientNames.Overflow, otherService, otherGenerated, otherPrompt, otherRequests, otherWaiting);
        }
    }

    private void Set(string label, double service, long generated, long computedPrompt, long requests, long waiting)
    {
        _clientWaiting.WithLabels(label).Set(waiting);
        _clientService.WithLabels(label).IncTo(service);
        _clientGenerated.WithLabels(label).IncTo(generated);
        _clientComputedPrompt.WithLabels(label).IncTo(computedPrompt);
        _clientRequests.WithLabels(label).IncTo(requests);
    }

    public void ObserveTimeToFirstToken(TimeSpan elapsed) => _timeToFirstToken.Observe(elapsed.TotalSeconds);
    public void ObserveInterTokenLatency(TimeSpan elapsed) => _interTokenLatency.Observe(elapsed.TotalSeconds);
    public void CountRequest(string route, string status) => _httpRequests.WithLabels(route, status).Inc();
}
