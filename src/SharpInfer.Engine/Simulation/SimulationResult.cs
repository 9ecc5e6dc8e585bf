namespace SharpInfer.Engine.Simulation;

/// <summary>What a simulation measured: per-request latencies, throughput, cache hits, and service over time.</summary>
public sealed class SimulationResult
{
    public required string Policy { get; init; }
    public required IReadOnlyList<RequestOutcome> Requests { get; init; }
    public required IReadOnlyList<string> Clients { get; init; }
    /// <summary>Each client's service (as the policy counts it) and backlog, sampled after every step.</summary>
    public required Timeline Service { get; init; }
    /// <summary>Each client's service as work done: w_p per prompt token computed plus w_q per token generated.</summary>
    public required IReadOnlyDictionary<string, double> ComputedService { get; init; }
    public required int Steps { get; init; }
    /// <summary>Seconds from the first arrival to the last finish.</summary>
    public required double Makespan { get; init; }
    /// <summary>Prompt tokens of every admission (a preempted request counts again), and those found in the cache.</summary>
    public required long PromptTokensAdmitted { get; init; }
    public required long CachedTokensAdmitted { get; init; }
    public required long ComputedPromptTokens { get; init; }
    public required long GeneratedTokens { get; init; }
    public required int Preemptions { get; init; }
    /// <summary>
    /// The most KV tokens the running batch attended to in one step (computed plus new tokens of every request in the
    /// step): the M of VTC's bound U = max(w_p * max input length, w_q * M).
    /// </summary>
    public long PeakBatchTokens { get; init; }

    public double PrefixHitRate => PromptTokensAdmitted == 0 ? 0 : (double)CachedTokensAdmitted / PromptTokensAdmitted;
    /// <summary>Prompt plus output tokens of all requests per second: the work clients asked for, cached or not.</summary>
    public double TokenThroughput => (Requests.Sum(r => (long)r.PromptTokens + r.OutputTokens)) / Makespan;
    public double OutputThroughput => GeneratedTokens / Makespan;
    public double RequestThroughput => Requests.Count / Makespan;

    public double MeanTimeToFirstToken(string? client = null) => Ttfts(client).DefaultIfEmpty().Average();

    public double PercentileTimeToFirstToken(double percentile, string? client = null)
    {
        var sorted = Ttfts(client).Order().ToArray();
        if (sorted.Length == 0) return 0;
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Jain's fairness index of the clients' final service (1 = equal, 1/n = one client got everything).</summary>
    public double JainIndex => JainOf(Clients.Select(c => Service.Final(c)));

    /// <summary>The largest service gap that opened between two clients while both were backlogged, over all pairs.</summary>
    public double MaxServiceDifference()
    {
        double worst = 0;
        for (int a = 0; a < Clients.Count; a++)
            for (int b = a + 1; b < Clients.Count; b++)
                worst = Math.Max(worst, Service.MaxDifference(Clients[a], Clients[b]));
        return worst;
    }

    public static double JainOf(IEnumerable<double> values)
    {
        double sum = 0, squares = 0;
        int n = 0;
        foreach (double v in values) { sum += v; squares += v * v; n++; }
        return squares == 0 ? 1 : sum * sum / (n * squares);
    }

    public override string ToString() =>
        $"{Policy}: {TokenThroughput:F0} tok/s ({OutputThroughput:F0} out/s) in {Makespan:F1} s, {Steps} steps, hit rate {PrefixHitRate:P1}, " +
        $"max service difference {MaxServiceDifference():F0}, Jain {JainIndex:F3}, mean TTFT {MeanTimeToFirstToken():F2} s, {Preemptions} preemptions";

    private IEnumerable<double> Ttfts(string? client) =>
        Requests.Where(r => client is null || r.ClientId == client).Select(r => r.TimeToFirstToken);

    /// <summary>Per-step samples of each client's service, whether it had requests waiting, and its computed service.</summary>
    public sealed class Timeline
    {
        private readonly string[] _clients;
        private readonly Dictionary<string, int> _index = [];
        private readonly List<double> _times = [];
        // Flattened [step * clients + client], so a long run is a few large arrays rather than one per step.
        private readonly List<double> _service = [];
        private readonly List<double> _computed = [];
        private readonly List<bool> _backlogged = [];

        internal Timeline(string[] clients)
        {
            _clients = clients;
            for (int i = 0; i < clients.Length; i++) _index.Add(clients[i], i);
        }

        public int Count => _times.Count;
        public double Time(int sample) => _times[sample];
        public double ServiceOf(string client, int sample) => _service[sample * _clients.Length + _index[client]];
        public double ComputedServiceOf(string client, int sample) => _computed[sample * _clients.Length + _index[client]];
        public bool Backlogged(string client, int sample) => _backlogged[sample * _clients.Length + _index[client]];
        public double Final(string client) => Count == 0 ? 0 : ServiceOf(client, Count - 1);

        /// <summary>
        /// The largest |ΔW_a − ΔW_b| over intervals in which both clients were backlogged throughout: within each
        /// maximal such run of samples, the spread (max − min) of W_a − W_b.
        /// </summary>
        public double MaxDifference(string a, string b)
        {
            double worst = 0, low = 0, high = 0;
            bool inRun = false;
            for (int s = 0; s < Count; s++)
            {
                if (!Backlogged(a, s) || !Backlogged(b, s)) { inRun = false; continue; }
                double difference = ServiceOf(a, s) - ServiceOf(b, s);
                if (!inRun) { low = high = difference; inRun = true; }
                low = Math.Min(low, difference);
                high = Math.Max(high, difference);
                worst = Math.Max(worst, high - low);
            }
            return worst;
        }

        /// <summary>Samples in which every client was backlogged.</summary>
        public int AllBackloggedSamples()
        {
            int count = 0;
            for (int s = 0; s < Count; s++)
            {
                bool all = true;
                foreach (var client in _clients) all &= Backlogged(client, s);
                if (all) count++;
            }
            return count;
        }

        internal void Add(double time, IReadOnlyDictionary<string, double> service, int[] waiting, double[] computed)
        {
            _times.Add(time);
            for (int i = 0; i < _clients.Length; i++)
            {
                _service.Add(service.TryGetValue(_clients[i], out double value) ? value : 0);
                _computed.Add(computed[i]);
                _backlogged.Add(waiting[i] > 0);
            }
        }
    }
}
