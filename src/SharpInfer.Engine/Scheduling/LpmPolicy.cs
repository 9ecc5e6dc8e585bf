namespace SharpInfer.Engine.Scheduling;

/// <summary>
/// Longest prefix match first (SGLang's cache-aware policy): requests whose prompts are already cached run first, so
/// requests sharing a prefix run back to back while it is still cached. Ties go in arrival order. Fast, but a client
/// whose requests miss the cache can starve.
/// </summary>
public sealed class LpmPolicy(double promptWeight = 1, double decodeWeight = 2) : ISchedulingPolicy
{
    private readonly MatchOrderedQueue _waiting = new();
    private readonly ReceivedService _service = new(promptWeight, decodeWeight);

    public string Name => "lpm";
    public int WaitingCount => _waiting.Count;
    /// <summary>Service received: w_p per computed prompt token plus w_q per generated token.</summary>
    public IReadOnlyDictionary<string, double> Service => _service.ByClient;

    public void Enqueue(ScheduledRequest request)
    {
        _service.Touch(request.ClientId);
        _waiting.Add(request);
    }

    public bool Remove(ScheduledRequest request) => _waiting.Remove(request);

    public int Admit(IPrefixMatcher matcher, Func<ScheduledRequest, bool> tryAdmit)
    {
        if (_waiting.Count == 0) return 0;
        int admitted = 0;
        foreach (var entry in _waiting.Sort(matcher))
        {
            if (!tryAdmit(_waiting[entry.Index])) break;
            _waiting.Take(entry.Index);
            admitted++;
        }
        _waiting.RemoveTaken();
        return admitted;
    }

    public void OnPrefill(ScheduledRequest request, int tokens) => _service.Prefill(request, tokens);

    public void OnDecode(ScheduledRequest request, int tokens) => _service.Decode(request, tokens);
}
