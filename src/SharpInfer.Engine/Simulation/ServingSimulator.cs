using System.Runtime.InteropServices;
using SharpInfer.Engine.Kv;
using SharpInfer.Engine.Scheduling;

namespace SharpInfer.Engine.Simulation;

/// <summary>Engine limits and costs for <see cref="ServingSimulator"/>.</summary>
public sealed record SimulatorOptions
{
    public int PageSize { get; init; } = 16;
    /// <summary>KV pages in the pool (the prefix cache and running requests share them).</summary>
    public int TotalPages { get; init; } = 4096;
    /// <summary>Most requests in the running batch.</summary>
    public int MaxBatchSize { get; init; } = 64;
    /// <summary>Most tokens one step computes (decodes count one each); longer prompts are prefilled in chunks.</summary>
    public int TokenBudget { get; init; } = 2048;
    public StepCostModel Cost { get; init; } = StepCostModel.Llama8BOnA100;
    /// <summary>w_p and w_q of the simulator's own service meter (<see cref="SimulationResult.ComputedService"/>).</summary>
    public double PromptWeight { get; init; } = 1;
    public double DecodeWeight { get; init; } = 2;
    /// <summary>Checks the page ownership invariants after every step (slow; for tests).</summary>
    public bool CheckInvariants { get; init; }
}

/// <summary>
/// A discrete-event model of a continuous-batching engine with a radix prefix cache: each step decodes one token for
/// every running request, continues chunked prefills, admits waiting requests through the scheduling policy within the
/// token budget, batch size and KV pages (evicting cached prefixes LRU first), and preempts the newest request
/// (to be recomputed later) when decoding runs out of pages. Time advances by the <see cref="StepCostModel"/>.
/// Computes no model: it measures what a policy does to throughput, latency and fairness.
/// </summary>
public sealed class ServingSimulator
{
    private readonly ISchedulingPolicy _policy;
    private readonly SimulatorOptions _options;

    public ServingSimulator(ISchedulingPolicy policy, SimulatorOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PageSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchSize, 1);
        if (options.TokenBudget <= options.MaxBatchSize)
            throw new ArgumentException("the token budget must exceed the batch size, or a full batch of decodes leaves no room to prefill", nameof(options));
        _policy = policy;
        _options = options;
    }

    public SimulationResult Run(IReadOnlyList<SimRequest> workload) => new Run(_policy, _options, workload).Execute();
}

/// <summary>One simulation's state; <see cref="ServingSimulator"/> is reusable, this is not.</summary>
internal sealed class Run : IPrefixMatcher
{
    private readonly ISchedulingPolicy _policy;
    private readonly SimulatorOptions _options;
    private readonly IReadOnlyList<SimRequest> _workload;
    private readonly PageAllocator _allocator;
    private readonly RadixCache _cache;
    private readonly Tracked[] _requests;
    private readonly List<Tracked> _running = [];
    private readonly List<int> _scratchPages = [];
    private readonly Func<ScheduledRequest, bool> _tryAdmit;
    private readonly string[] _clients;
    private readonly int[] _waitingByClient;
    private readonly double[] _computedService;
    private readonly SimulationResult.Timeline _timeline;
    private int _budget;
    private long _promptTokensAdmitted, _cachedTokensAdmitted, _computedPromptTokens, _generatedTokens;
    private int _preemptions;
    private double _now;

    public Run(ISchedulingPolicy policy, SimulatorOptions options, IReadOnlyList<SimRequest> workload)
    {
        _policy = policy;
        _options = options;
        _workload = workload;
        _allocator = new PageAllocator(options.TotalPages);
        _cache = new RadixCache(_allocator, options.PageSize);
        var clientIndex = new Dictionary<string, int>();
        _requests = new Tracked[workload.Count];
        double previous = double.NegativeInfinity;
        for (int i = 0; i < workload.Count; i++)
        {
            var source = workload[i];
            if (source.Arrival < previous) throw new ArgumentException("the workload must be sorted by arrival time", nameof(workload));
            previous = source.Arrival;
            if (source.Prompt.Length == 0 || source.OutputLength < 1) throw new ArgumentException($"request {i} needs a prompt and at least one output token", nameof(workload));
            if (_cache.PagesFor(source.Prompt.Length + source.OutputLength) > options.TotalPages)
                throw new ArgumentException($"request {i} needs more KV pages than the pool has", nameof(workload));
            if (!clientIndex.TryGetValue(source.ClientId, out int client)) clientIndex.Add(source.ClientId, client = clientIndex.Count);
            _requests[i] = new Tracked(i, client, source, Sequence(i, source));
        }
        _clients = new string[clientIndex.Count];
        foreach (var (name, index) in clientIndex) _clients[index] = name;
        _waitingByClient = new int[_clients.Length];
        _computedService = new double[_clients.Length];
        _timeline = new SimulationResult.Timeline(_clients);
        _tryAdmit = TryAdmit;
    }

    public int MatchLength(ScheduledRequest request) => _cache.MatchLength(AdmissionKey(request.Tokens));

    public SimulationResult Execute()
    {
        int next = 0, finished = 0, steps = 0;
        long peakBatchTokens = 0;
        double firstArrival = _workload.Count > 0 ? _workload[0].Arrival : 0;
        _now = firstArrival;
        while (finished < _requests.Length)
        {
            for (; next < _requests.Length && _workload[next].Arrival <= _now; next++) Enqueue(_requests[next]);
            if (_running.Count == 0 && _policy.WaitingCount == 0)
            {
                _now = _workload[next].Arrival; // idle until the next arrival
                continue;
            }
            _budget = _options.TokenBudget;
            foreach (var request in _running) request.StepTokens = 0;
            ScheduleDecodes();
            ScheduleContinuedPrefills();
            _policy.Admit(this, _tryAdmit);
            if (_running.Count == 0) throw new InvalidOperationException("nothing could be admitted into an empty engine");

            int prefill = 0, decode = 0;
            long context = 0;
            foreach (var request in _running)
            {
                if (request.StepTokens == 0) continue;
                if (request.Prefilling) prefill += request.StepTokens; else decode++;
                context += request.Computed + request.StepTokens;
            }
            peakBatchTokens = Math.Max(peakBatchTokens, context);
            _now += _options.Cost.StepSeconds(prefill, decode, context);
            steps++;
            finished += Advance();
            _timeline.Add(_now, _policy.Service, _waitingByClient, _computedService);
            if (_options.CheckInvariants) CheckInvariants();
        }
        CheckInvariants();
        var outcomes = new RequestOutcome[_requests.Length];
        foreach (var r in _requests)
            outcomes[r.Index] = new RequestOutcome(r.Index, r.Source.ClientId, r.Source.Arrival, r.FirstToken, r.Finish,
                r.Source.Prompt.Length, r.Source.OutputLength, r.FirstCachedTokens, r.Preemptions);
        return new SimulationResult
        {
            Policy = _policy.Name,
            Requests = outcomes,
            Clients = _clients,
            Service = _timeline,
            Steps = steps,
            Makespan = _now - firstArrival,
            PromptTokensAdmitted = _promptTokensAdmitted,
            CachedTokensAdmitted = _cachedTokensAdmitted,
            ComputedPromptTokens = _computedPromptTokens,
            GeneratedTokens = _generatedTokens,
            Preemptions = _preemptions,
            PeakBatchTokens = peakBatchTokens,
            ComputedService = _clients.Select((c, i) => (c, _computedService[i])).ToDictionary(),
        };
    }

    /// <summary>Every decoding request needs room for one more token; when pages run out, the newest request yields.</summary>
    private void ScheduleDecodes()
    {
        for (int i = 0; i < _running.Count; i++)
        {
            var request = _running[i];
            if (request.Prefilling) continue;
            // Victims are taken from the end (newest), so the requests before this one keep their places.
            if (!EnsurePages(request, request.Computed + 1)) break; // it was the newest: nothing follows it
            request.StepTokens = 1;
            _budget--;
        }
    }

    private void ScheduleContinuedPrefills()
    {
        foreach (var request in _running)
        {
            if (!request.Prefilling || _budget == 0) continue;
            request.StepTokens = Math.Min(request.Target - request.Computed, _budget);
            _budget -= request.StepTokens;
        }
    }

    /// <summary>
    /// Gives the request pages for <paramref name="tokens"/> tokens, evicting cached prefixes and then preempting the
    /// newest running requests; false if the request itself was the one preempted.
    /// </summary>
    private bool EnsurePages(Tracked request, int tokens)
    {
        int needed = _cache.PagesFor(tokens) - request.Pages.Count;
        while (needed > 0)
        {
            if (_allocator.FreePages < needed) _cache.Evict(needed - _allocator.FreePages);
            if (_allocator.TryAllocate(needed, request.Pages)) return true;
            var victim = _running[^1]; // the running list is in admission order: the newest is last
            Preempt(victim);
            if (victim == request) return false;
        }
        return true;
    }

    private bool TryAdmit(ScheduledRequest scheduled)
    {
        if (_running.Count >= _options.MaxBatchSize || _budget <= 0) return false;
        var request = (Tracked)scheduled.EngineState!;
        var tokens = scheduled.Tokens;
        _scratchPages.Clear();
        var match = _cache.Match(AdmissionKey(tokens), _scratchPages);
        _cache.Lock(match);
        int needed = _cache.PagesFor(tokens.Length) - _scratchPages.Count;
        // One page of headroom per running request, so admitting does not at once force preemptions of decodes.
        if (_allocator.FreePages + _cache.EvictablePages < needed + _running.Count)
        {
            _cache.Unlock(match);
            return false;
        }
        if (_allocator.FreePages < needed) _cache.Evict(needed - _allocator.FreePages);
        request.Pages.AddRange(_scratchPages);
        if (!_allocator.TryAllocate(needed, request.Pages)) throw new InvalidOperationException("eviction freed fewer pages than it promised");
        request.Match = match;
        request.Computed = match.Length;
        request.Target = tokens.Length;
        scheduled.CachedTokens = match.Length;
        if (request.FirstCachedTokens < 0) request.FirstCachedTokens = match.Length;
        _promptTokensAdmitted += tokens.Length;
        _cachedTokensAdmitted += match.Length;
        request.StepTokens = Math.Min(request.Target - request.Computed, _budget);
        _budget -= request.StepTokens;
        _waitingByClient[request.Client]--;
        _running.Add(request);
        return true;
    }

    /// <summary>Applies the step's work; returns how many requests finished.</summary>
    private int Advance()
    {
        int finished = 0;
        for (int i = 0; i < _running.Count; i++)
        {
            var request = _running[i];
            int tokens = request.StepTokens;
            if (tokens == 0) continue;
            var scheduled = request.Scheduled;
            if (request.Prefilling)
            {
                request.Computed += tokens;
                _computedPromptTokens += tokens;
                _computedService[request.Client] += _options.PromptWeight * tokens / request.Source.ClientWeight;
                _policy.OnPrefill(scheduled, tokens);
                if (request.Prefilling) continue;
                CachePrompt(request); // others can share the prompt while this request decodes
            }
            else
            {
                request.Computed++;
            }
            request.Generated++;
            _generatedTokens++;
            _computedService[request.Client] += _options.DecodeWeight / request.Source.ClientWeight;
            if (request.FirstToken < 0) request.FirstToken = _now;
            _policy.OnDecode(scheduled, 1);
            if (request.Generated == request.Source.OutputLength)
            {
                Release(request);
                request.Finish = _now;
                _running.RemoveAt(i--);
                finished++;
            }
        }
        return finished;
    }

    /// <summary>Hands the computed prompt to the cache and holds the cache's pages (under a lock) instead of its own.</summary>
    private void CachePrompt(Tracked request)
    {
        var computed = request.Sequence.AsSpan(0, request.Computed);
        _cache.Insert(computed, request.Pages);
        int aligned = computed.Length / _options.PageSize * _options.PageSize;
        _scratchPages.Clear();
        var match = _cache.Match(computed[..aligned], _scratchPages);
        if (match.Length != aligned) throw new InvalidOperationException("a prompt just cached was not found");
        _cache.Lock(match);
        _cache.Unlock(request.Match);
        request.Match = match;
        for (int p = 0; p < _scratchPages.Count; p++) request.Pages[p] = _scratchPages[p];
    }

    /// <summary>Caches what the request computed, gives back the rest of its pages and its lock.</summary>
    private void Release(Tracked request)
    {
        var computed = request.Sequence.AsSpan(0, request.Computed);
        _cache.Insert(computed, request.Pages);
        int cachedPages = computed.Length / _options.PageSize;
        _allocator.Free(CollectionsMarshal.AsSpan(request.Pages)[cachedPages..]);
        request.Pages.Clear();
        _cache.Unlock(request.Match);
        request.Match = default;
    }

    private void Preempt(Tracked victim)
    {
        Release(victim);
        _running.Remove(victim);
        _preemptions++;
        victim.Preemptions++;
        // Recompute: the request comes back with what it generated so far as part of its prompt.
        victim.Scheduled.Tokens = victim.Sequence[..(victim.Source.Prompt.Length + victim.Generated)];
        victim.Computed = 0;
        Enqueue(victim);
    }

    private void Enqueue(Tracked request)
    {
        _waitingByClient[request.Client]++;
        _policy.Enqueue(request.Scheduled);
    }

    /// <summary>At least one prompt token is always computed, because its logits give the next token.</summary>
    private static ReadOnlySpan<int> AdmissionKey(int[] tokens) => tokens.AsSpan(0, tokens.Length - 1);

    private void CheckInvariants()
    {
        var held = new List<int>();
        foreach (var request in _running)
        {
            // A running request's own pages are those past its locked match; the matched ones belong to the tree.
            held.AddRange(request.Pages.Skip(request.Match.Length / _options.PageSize));
        }
        _cache.CheckInvariants(held);
    }

    private static int[] Sequence(int index, SimRequest source)
    {
        var sequence = new int[source.Prompt.Length + source.OutputLength];
        source.Prompt.CopyTo(sequence, 0);
        if (source.Output is { } output)
        {
            if (output.Length != source.OutputLength) throw new ArgumentException($"request {index} has {output.Length} output tokens, not {source.OutputLength}");
            output.CopyTo(sequence, source.Prompt.Length);
        }
        else
        {
            // Made-up tokens outside any vocabulary a generator uses, unique to this request.
            for (int i = 0; i < source.OutputLength; i++)
                sequence[source.Prompt.Length + i] = (int)(1_000_000_000L + ((long)index * 100_003 + i) % 1_000_000_000L);
        }
        return sequence;
    }

    private sealed class Tracked
    {
        public Tracked(int index, int client, SimRequest source, int[] sequence)
        {
            Index = index;
            Client = client;
            Source = source;
            Sequence = sequence;
            Scheduled = new ScheduledRequest
            {
                Id = index,
                ClientId = source.ClientId,
                ClientWeight = source.ClientWeight,
                Tokens = source.Prompt,
                Arrival = index,
                EngineState = this,
            };
        }

        public readonly int Index, Client;
        public readonly SimRequest Source;
        /// <summary>Prompt followed by every token the request will generate.</summary>
        public readonly int[] Sequence;
        public readonly ScheduledRequest Scheduled;
        public readonly List<int> Pages = [];
        public PrefixMatch Match;
        /// <summary>Tokens whose KV is computed; Target is the length of the prompt being prefilled.</summary>
        public int Computed, Target, Generated, StepTokens, Preemptions;
        public int FirstCachedTokens = -1;
        public double FirstToken = -1, Finish = -1;
        public bool Prefilling => Computed < Target;
    }
}
