namespace SharpInfer.Engine.Scheduling;

/// <summary>First come, first served: the baseline that ignores both the prefix cache and the clients.</summary>
public sealed class FcfsPolicy(double promptWeight = 1, double decodeWeight = 2) : ISchedulingPolicy
{
    // Sorted by arrival. New requests append; a preempted one (older arrival) goes back near the front. Admission
    // always takes a prefix of the list, so it leaves with one RemoveRange.
    private readonly List<ScheduledRequest> _queue = [];
    private readonly ReceivedService _service = new(promptWeight, decodeWeight);

    public string Name => "fcfs";
    public int WaitingCount => _queue.Count;
    /// <summary>Service received: w_p per computed prompt token plus w_q per generated token.</summary>
    public IReadOnlyDictionary<string, double> Service => _service.ByClient;

    public void Enqueue(ScheduledRequest request)
    {
        _service.Touch(request.ClientId);
        int at = _queue.Count;
        if (at > 0 && ArrivalOrder.Instance.Compare(_queue[at - 1], request) > 0)
        {
            at = _queue.BinarySearch(request, ArrivalOrder.Instance);
            if (at >= 0) throw new InvalidOperationException($"request {request.Id} is already waiting");
            at = ~at;
        }
        _queue.Insert(at, request);
    }

    public bool Remove(ScheduledRequest request) => _queue.Remove(request);

    public int Admit(IPrefixMatcher matcher, Func<ScheduledRequest, bool> tryAdmit)
    {
        int admitted = 0;
        while (admitted < _queue.Count && tryAdmit(_queue[admitted])) admitted++;
        _queue.RemoveRange(0, admitted);
        return admitted;
    }

    public void OnPrefill(ScheduledRequest request, int tokens) => _service.Prefill(request, tokens);

    public void OnDecode(ScheduledRequest request, int tokens) => _service.Decode(request, tokens);
}
