namespace SharpInfer.Engine.Scheduling;

/// <summary>Orders requests by arrival, then id (arrival stamps may repeat when a caller sets them).</summary>
internal sealed class ArrivalOrder : IComparer<ScheduledRequest>
{
    public static readonly ArrivalOrder Instance = new();

    public int Compare(ScheduledRequest? x, ScheduledRequest? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        int c = x.Arrival.CompareTo(y.Arrival);
        return c != 0 ? c : x.Id.CompareTo(y.Id);
    }
}

/// <summary>A waiting request's place in longest-prefix-match order: longest cached prefix first, then FCFS.</summary>
internal struct MatchOrder(int matched, long arrival, long id, int index) : IComparable<MatchOrder>
{
    public readonly int Matched = matched;
    public readonly long Arrival = arrival;
    public readonly long Id = id;
    /// <summary>Position in the policy's waiting list.</summary>
    public readonly int Index = index;

    public readonly int CompareTo(MatchOrder other)
    {
        int c = other.Matched.CompareTo(Matched);
        if (c != 0) return c;
        c = Arrival.CompareTo(other.Arrival);
        return c != 0 ? c : Id.CompareTo(other.Id);
    }
}

/// <summary>
/// An unordered waiting list that a policy re-sorts by prefix match at each admission. Match lengths are computed once
/// per <see cref="Sort"/> (not once per comparison), and the buffers are reused across steps.
/// </summary>
internal sealed class MatchOrderedQueue
{
    private readonly List<ScheduledRequest> _waiting = [];
    private MatchOrder[] _order = [];
    private bool[] _taken = [];

    public int Count => _waiting.Count;

    public void Add(ScheduledRequest request) => _waiting.Add(request);

    public bool Remove(ScheduledRequest request) => _waiting.Remove(request);

    /// <summary>Matches every waiting request (setting <see cref="ScheduledRequest.CachedTokens"/>) and sorts them LPM-first.</summary>
    public ReadOnlySpan<MatchOrder> Sort(IPrefixMatcher matcher)
    {
        int n = _waiting.Count;
        if (_order.Length < n)
        {
            _order = new MatchOrder[Math.Max(n, _order.Length * 2)];
            _taken = new bool[_order.Length];
        }
        for (int i = 0; i < n; i++)
        {
            var request = _waiting[i];
            request.CachedTokens = matcher.MatchLength(request);
            _order[i] = new MatchOrder(request.CachedTokens, request.Arrival, request.Id, i);
            _taken[i] = false;
        }
        var order = _order.AsSpan(0, n);
        order.Sort();
        return order;
    }

    public ScheduledRequest this[int index] => _waiting[index];

    public bool IsTaken(int index) => _taken[index];

    /// <summary>Marks a request admitted; it leaves the list at <see cref="RemoveTaken"/>.</summary>
    public void Take(int index) => _taken[index] = true;

    /// <summary>Drops the requests taken since the last <see cref="Sort"/>.</summary>
    public void RemoveTaken()
    {
        int kept = 0;
        for (int i = 0; i < _waiting.Count; i++)
        {
            if (!_taken[i]) _waiting[kept++] = _waiting[i];
            _taken[i] = false;
        }
        _waiting.RemoveRange(kept, _waiting.Count - kept);
    }
}

/// <summary>
/// Service each client received: w_p per prompt token actually computed plus w_q per generated token, divided by the
/// client's weight. FCFS and LPM report it; DLPM's deficits are charged in the same units.
/// </summary>
internal sealed class ReceivedService(double promptWeight, double decodeWeight)
{
    public readonly Dictionary<string, double> ByClient = [];

    public void Prefill(ScheduledRequest request, int tokens) => Add(request.ClientId, promptWeight * tokens / request.ClientWeight);

    public void Decode(ScheduledRequest request, int tokens) => Add(request.ClientId, decodeWeight * tokens / request.ClientWeight);

    public void Touch(string client) => ByClient.TryAdd(client, 0);

    private void Add(string client, double amount) =>
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(ByClient, client, out _) += amount;
}
