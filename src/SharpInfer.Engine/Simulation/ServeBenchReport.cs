namespace SharpInfer.Engine.Simulation;

/// <summary>One client's share of a policy's run. Times in seconds; service in w_p/w_q units.</summary>
public sealed record ClientReport(string Client, int RequestsSent, int RequestsCompleted, double Service, double TtftP50, double TtftP99, int TtftSamples);

/// <summary>Per-client service sampled over a run (downsampled for reports), and the backlogged gap over time.</summary>
public sealed record ServiceTimelineReport(double[] Times, IReadOnlyDictionary<string, double[]> Service, double[] BackloggedDifference);

/// <summary>What one scheduling policy did in a `bench serve` run (live or simulated).</summary>
public sealed record PolicyReport
{
    public required string Policy { get; init; }
    /// <summary>Seconds the measures cover (the arrival window).</summary>
    public required double Seconds { get; init; }
    /// <summary>Prompt plus output tokens of completed requests per second (cached prompt tokens count: it is work clients asked for).</summary>
    public required double TokensPerSecond { get; init; }
    public required double OutputTokensPerSecond { get; init; }
    public required double RequestsPerSecond { get; init; }
    /// <summary>Jain's index of the clients' service over the window.</summary>
    public required double Jain { get; init; }
    public required double MaxServiceDifference { get; init; }
    public string? MaxDifferenceClients { get; init; }
    /// <summary>2U (VTC; FCFS and LPM compared with it) or 2(Q_u + U) (DLPM).</summary>
    public required double Bound { get; init; }
    public required bool BoundPromised { get; init; }
    public bool WithinBound => MaxServiceDifference <= Bound;
    public required double Unit { get; init; }
    public required int MaxInputTokens { get; init; }
    /// <summary>U's "most tokens in a batch": the tokens one engine step may carry (its token budget).</summary>
    public required long MaxBatchTokens { get; init; }
    /// <summary>The most KV tokens the running requests held at once (VTC's memory-pool reading of that term, for reference).</summary>
    public long PeakKvTokens { get; init; }
    public required double Quantum { get; init; }
    public required double PrefixCacheHitRate { get; init; }
    public required IReadOnlyList<ClientReport> Clients { get; init; }
    public required ServiceTimelineReport Timeline { get; init; }
}

/// <summary>A request's fate as the report needs it.</summary>
public readonly record struct RequestSummary(string Client, bool Completed, double? TimeToFirstToken, int PromptTokens, int OutputTokens);

/// <summary>Builds <see cref="PolicyReport"/>s from sampled service and request outcomes, the same way for live runs and simulations.</summary>
public static class ServeBenchReports
{
    /// <summary>Most timeline points kept in a report (plots and JSON need no more).</summary>
    public const int MaxTimelinePoints = 1500;

    public sealed record Inputs
    {
        public required string Policy { get; init; }
        public required IReadOnlyList<string> Clients { get; init; }
        public required double Seconds { get; init; }
        /// <summary>Sample times in seconds from the start.</summary>
        public required IReadOnlyList<double> Times { get; init; }
        /// <summary>[sample][client] cumulative service: w_p per computed prompt token + w_q per generated token.</summary>
        public required IReadOnlyList<double[]> Service { get; init; }
        public required IReadOnlyList<bool[]> Backlogged { get; init; }
        public required IReadOnlyList<RequestSummary> Requests { get; init; }
        public required long MaxBatchTokens { get; init; }
        public long PeakKvTokens { get; init; }
        public required double PrefixCacheHitRate { get; init; }
        public required double Quantum { get; init; }
        public double PromptWeight { get; init; } = 1;
        public double OutputWeight { get; init; } = 2;
    }

    public static PolicyReport Build(Inputs inputs)
    {
        var clients = inputs.Clients;
        var difference = FairnessMath.MaxBackloggedDifference(clients, inputs.Service, inputs.Backlogged);
        // Service over the window: the last sample at or before its end.
        int last = -1;
        for (int s = 0; s < inputs.Times.Count; s++) if (inputs.Times[s] <= inputs.Seconds + 1e-9) last = s;
        double ServiceAt(int client) => last < 0 ? 0 : inputs.Service[last][client];
        int maxInput = inputs.Requests.Count == 0 ? 0 : inputs.Requests.Max(r => r.PromptTokens);
        double unit = FairnessMath.Unit(inputs.PromptWeight, maxInput, inputs.OutputWeight, inputs.MaxBatchTokens);
        var completed = inputs.Requests.Where(r => r.Completed).ToList();
        var perClient = clients.Select((name, c) =>
        {
            var mine = inputs.Requests.Where(r => r.Client == name).ToList();
            var ttfts = mine.Where(r => r.TimeToFirstToken.HasValue).Select(r => r.TimeToFirstToken!.Value).ToList();
            return new ClientReport(name, mine.Count, mine.Count(r => r.Completed), ServiceAt(c),
                FairnessMath.Percentile(ttfts, 50), FairnessMath.Percentile(ttfts, 99), ttfts.Count);
        }).ToList();
        return new PolicyReport
        {
            Policy = inputs.Policy,
            Seconds = inputs.Seconds,
            TokensPerSecond = completed.Sum(r => (double)r.PromptTokens + r.OutputTokens) / inputs.Seconds,
            OutputTokensPerSecond = completed.Sum(r => (double)r.OutputTokens) / inputs.Seconds,
            RequestsPerSecond = completed.Count / inputs.Seconds,
            Jain = FairnessMath.Jain(perClient.Select(c => c.Service)),
            MaxServiceDifference = difference.Max,
            MaxDifferenceClients = difference.ClientA == null ? null : $"{difference.ClientA} vs {difference.ClientB}",
            Bound = FairnessMath.Bound(inputs.Policy, unit, inputs.Quantum),
            BoundPromised = FairnessMath.PromisesBound(inputs.Policy),
            Unit = unit,
            MaxInputTokens = maxInput,
            MaxBatchTokens = inputs.MaxBatchTokens, PeakKvTokens = inputs.PeakKvTokens,
            Quantum = inputs.Quantum,
            PrefixCacheHitRate = inputs.PrefixCacheHitRate,
            Clients = perClient,
            Timeline = Downsample(inputs.Times, clients, inputs.Service, difference.Series),
        };
    }

    /// <summary>
    /// A simulation's report over the arrival window: its computed-service timeline (work done, not the policy's own
    /// counters, which VTC lifts) and backlog, requests finished within the window, TTFTs of all requests.
    /// </summary>
    /// <param name="stepTokenBudget">The simulated engine's tokens per step: U's "most tokens in a batch".</param>
    public static PolicyReport FromSimulation(SimulationResult result, double seconds, double quantum, long stepTokenBudget, double promptWeight = 1, double outputWeight = 2)
    {
        var timeline = result.Service;
        var clients = result.Clients;
        var times = new double[timeline.Count];
        var service = new double[timeline.Count][];
        var backlogged = new bool[timeline.Count][];
        for (int s = 0; s < timeline.Count; s++)
        {
            times[s] = timeline.Time(s);
            service[s] = clients.Select(c => timeline.ComputedServiceOf(c, s)).ToArray();
            backlogged[s] = clients.Select(c => timeline.Backlogged(c, s)).ToArray();
        }
        // The simulation runs until every request is done; throughput counts what finished within the window, TTFT
        // every request (all got their first token eventually).
        var requests = result.Requests.Select(r => new RequestSummary(r.ClientId, r.Finish <= seconds,
            r.FirstToken >= 0 ? r.TimeToFirstToken : null, r.PromptTokens, r.OutputTokens)).ToList();
        return Build(new Inputs
        {
            Policy = result.Policy, Clients = clients, Seconds = seconds, Times = times, Service = service, Backlogged = backlogged,
            Requests = requests, MaxBatchTokens = stepTokenBudget, PeakKvTokens = result.PeakBatchTokens, PrefixCacheHitRate = result.PrefixHitRate, Quantum = quantum,
            PromptWeight = promptWeight, OutputWeight = outputWeight,
        });
    }

    private static ServiceTimelineReport Downsample(IReadOnlyList<double> times, IReadOnlyList<string> clients, IReadOnlyList<double[]> service, double[] difference)
    {
        int n = times.Count;
        int stride = Math.Max(1, (n + MaxTimelinePoints - 1) / MaxTimelinePoints);
        var keep = Enumerable.Range(0, n).Where(s => s % stride == 0 || s == n - 1).ToArray();
        // The gap series keeps each stride's maximum, so a downsampled plot cannot hide a peak.
        var gaps = keep.Select((s, k) =>
        {
            int from = k == 0 ? 0 : keep[k - 1] + 1;
            double max = 0;
            for (int i = from; i <= s; i++) max = Math.Max(max, difference[i]);
            return max;
        }).ToArray();
        return new ServiceTimelineReport(
            keep.Select(s => times[s]).ToArray(),
            clients.Select((name, c) => (name, keep.Select(s => service[s][c]).ToArray())).ToDictionary(x => x.name, x => x.Item2),
            gaps);
    }
}
