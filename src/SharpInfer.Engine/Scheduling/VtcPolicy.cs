namespace SharpInfer.Engine.Scheduling;

/// <summary>
/// Virtual Token Counter (Sheng et al.): each client has a counter of the service it received, w_p per prompt token
/// charged at admission and w_q per generated token, divided by the client's weight. The batch is filled from the
/// client with the smallest counter, oldest request first. A client that becomes active again is lifted to the
/// smallest counter among active clients, so idle time is not banked. Cache-oblivious by design: a prompt is charged
/// in full whether or not its prefix was cached, and the order ignores the cache.
/// </summary>
public sealed class VtcPolicy : ISchedulingPolicy
{
    private readonly double _promptWeight, _decodeWeight;
    private readonly Dictionary<string, ClientQueue> _clients = [];
    // Reused per Admit: clients with queued requests. Usually a handful, so a linear scan beats a heap.
    private readonly List<ClientQueue> _backlogged = [];
    private readonly Dictionary<string, double> _counters = [];
    // The smallest counter among backlogged clients, last time there were any: the level a client that arrives when
    // nobody else waits is lifted to.
    private double _virtualTime;
    private int _waiting;

    public VtcPolicy(double promptWeight = 1, double decodeWeight = 2)
    {
        _promptWeight = promptWeight;
        _decodeWeight = decodeWeight;
    }

    public string Name => "vtc";
    public int WaitingCount => _waiting;
    /// <summary>Each client's counter.</summary>
    public IReadOnlyDictionary<string, double> Service => _counters;

    public void Enqueue(ScheduledRequest request)
    {
        if (!_clients.TryGetValue(request.ClientId, out var client))
        {
            client = new ClientQueue(request.ClientId);
            _clients.Add(request.ClientId, client);
            _counters[client.Id] = 0;
        }
        if (client.Requests.Count == 0)
        {
            double floor = _virtualTime;
            bool anyBacklogged = false;
            foreach (var other in _backlogged)
            {
                floor = anyBacklogged ? Math.Min(floor, _counters[other.Id]) : _counters[other.Id];
                anyBacklogged = true;
            }
            _counters[client.Id] = Math.Max(_counters[client.Id], floor);
            _backlogged.Add(client);
        }
        client.Requests.Enqueue(request, (request.Arrival, request.Id));
        _waiting++;
    }

    public bool Remove(ScheduledRequest request)
    {
        if (!_clients.TryGetValue(request.ClientId, out var client) || !client.Requests.Remove(request, out _, out _)) return false;
        if (client.Requests.Count == 0) _backlogged.Remove(client);
        _waiting--;
        return true;
    }

    public int Admit(IPrefixMatcher matcher, Func<ScheduledRequest, bool> tryAdmit)
    {
        int admitted = 0;
        while (_backlogged.Count > 0)
        {
            int best = 0;
            double bestCounter = _counters[_backlogged[0].Id];
            for (int i = 1; i < _backlogged.Count; i++)
            {
                double counter = _counters[_backlogged[i].Id];
                if (counter < bestCounter) { best = i; bestCounter = counter; }
            }
            _virtualTime = Math.Max(_virtualTime, bestCounter);
            var client = _backlogged[best];
            var request = client.Requests.Peek();
            if (!tryAdmit(request)) break;
            client.Requests.Dequeue();
            _waiting--;
            admitted++;
            _counters[client.Id] += _promptWeight * request.Tokens.Length / request.ClientWeight;
            if (client.Requests.Count == 0) _backlogged.RemoveAt(best);
        }
        return admitted;
    }

    /// <summary>Ignored: VTC charged the whole prompt at admission.</summary>
    public void OnPrefill(ScheduledRequest request, int tokens) { }

    public void OnDecode(ScheduledRequest request, int tokens)
    {
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_counters, request.ClientId, out _)
            += _decodeWeight * tokens / request.ClientWeight;
    }

    private sealed class ClientQueue(string id)
    {
        public readonly string Id = id;
        public readonly PriorityQueue<ScheduledRequest, (long Arrival, long Id)> Requests = new();
    }
}
