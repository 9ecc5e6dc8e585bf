namespace SharpInfer.Engine.Scheduling;

/// <summary>
/// Deficit Longest Prefix Match: LPM order, gated by a per-client deficit so no client takes more than its share.
/// Each admission walks the waiting requests longest-cached-prefix first and admits one only while its client's deficit
/// is positive, charging w_p per prompt token not in the cache; every generated token costs w_q. When a pass ends with
/// requests still waiting and none of their clients in credit, every client with waiting requests gets the quantum
/// Q_u (as many times as it takes for one of them to be in credit) and the walk goes on. Cached tokens cost nothing:
/// fairness is in work done. A small quantum behaves like VTC, a large one like LPM; two backlogged clients' service
/// stays within about 2 (Q_u + U).
/// </summary>
public sealed class DlpmPolicy : ISchedulingPolicy
{
    private readonly double _quantum, _promptWeight, _decodeWeight;
    private readonly MatchOrderedQueue _waiting = new();
    private readonly Dictionary<string, ClientState> _clients = [];
    private readonly ReceivedService _service;
    private readonly Dictionary<string, double> _deficits = [];
    // Prompt tokens charged at admission (the uncached estimate) and not yet computed, by request id. Charging at
    // admission keeps one Admit pass from letting a client in credit take every request it has; OnPrefill then
    // settles the charge against the tokens actually computed.
    private readonly Dictionary<long, int> _reservedPrompt = [];

    public DlpmPolicy(double quantum, double promptWeight = 1, double decodeWeight = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(quantum);
        _quantum = quantum;
        _promptWeight = promptWeight;
        _decodeWeight = decodeWeight;
        _service = new ReceivedService(promptWeight, decodeWeight);
    }

    public string Name => "dlpm";
    public double Quantum => _quantum;
    public int WaitingCount => _waiting.Count;
    /// <summary>Service received: w_p per computed prompt token plus w_q per generated token.</summary>
    public IReadOnlyDictionary<string, double> Service => _service.ByClient;
    /// <summary>Each client's deficit (credit left before it must wait for a refill).</summary>
    public IReadOnlyDictionary<string, double> Deficits => _deficits;

    public void Enqueue(ScheduledRequest request)
    {
        var client = State(request.ClientId);
        RefundReservation(request); // a preempted request: what it did not compute is not owed
        if (client.Waiting == 0) Set(client, Math.Min(client.Deficit, 0)); // credit left from before an idle spell is not banked
        client.Waiting++;
        _waiting.Add(request);
    }

    public bool Remove(ScheduledRequest request)
    {
        if (!_waiting.Remove(request)) return false;
        State(request.ClientId).Waiting--;
        return true;
    }

    public int Admit(IPrefixMatcher matcher, Func<ScheduledRequest, bool> tryAdmit)
    {
        if (_waiting.Count == 0) return 0;
        var order = _waiting.Sort(matcher);
        int admitted = 0;
        bool batchFull = false;
        while (!batchFull && admitted < order.Length)
        {
            foreach (var entry in order)
            {
                if (_waiting.IsTaken(entry.Index)) continue;
                var request = _waiting[entry.Index];
                var client = _clients[request.ClientId];
                if (client.Deficit <= 0) continue;
                if (!tryAdmit(request)) { batchFull = true; break; }
                _waiting.Take(entry.Index);
                admitted++;
                client.Waiting--;
                // The engine set CachedTokens to what it actually matched when it admitted the request.
                int uncached = Math.Max(0, request.Tokens.Length - request.CachedTokens);
                _reservedPrompt[request.Id] = uncached;
                Set(client, client.Deficit - _promptWeight * uncached / request.ClientWeight);
            }
            // After a pass every client that still waits is out of credit (one in credit would have been offered), so
            // the next pass would admit nothing: refill now.
            if (!batchFull && admitted < order.Length) Refill();
        }
        _waiting.RemoveTaken();
        return admitted;
    }

    public void OnPrefill(ScheduledRequest request, int tokens)
    {
        _service.Prefill(request, tokens);
        int beyond = tokens;
        if (_reservedPrompt.TryGetValue(request.Id, out int reserved))
        {
            int covered = Math.Min(reserved, tokens);
            beyond -= covered;
            if (reserved == covered) _reservedPrompt.Remove(request.Id);
            else _reservedPrompt[request.Id] = reserved - covered;
        }
        if (beyond > 0) Charge(request, _promptWeight * beyond);
    }

    public void OnDecode(ScheduledRequest request, int tokens)
    {
        RefundReservation(request); // decoding means the prompt is done: any reservation left was an overestimate
        _service.Decode(request, tokens);
        Charge(request, _decodeWeight * tokens);
    }

    /// <summary>Adds the smallest number of quanta that puts at least one waiting client in credit, to every waiting client.</summary>
    private void Refill()
    {
        double best = double.NegativeInfinity;
        foreach (var client in _clients.Values)
            if (client.Waiting > 0) best = Math.Max(best, client.Deficit);
        if (best == double.NegativeInfinity) return;
        double quanta = best > 0 ? 0 : Math.Floor(-best / _quantum) + 1;
        if (quanta == 0) return;
        foreach (var client in _clients.Values)
            if (client.Waiting > 0 && client.Deficit <= 0) Set(client, client.Deficit + quanta * _quantum);
    }

    private void RefundReservation(ScheduledRequest request)
    {
        if (!_reservedPrompt.Remove(request.Id, out int reserved)) return;
        var client = State(request.ClientId);
        Set(client, client.Deficit + _promptWeight * reserved / request.ClientWeight);
    }

    private void Charge(ScheduledRequest request, double cost)
    {
        var client = State(request.ClientId);
        Set(client, client.Deficit - cost / request.ClientWeight);
    }

    private void Set(ClientState client, double deficit)
    {
        client.Deficit = deficit;
        _deficits[client.Id] = deficit;
    }

    private ClientState State(string id)
    {
        if (!_clients.TryGetValue(id, out var client))
        {
            client = new ClientState(id);
            _clients.Add(id, client);
            _deficits[id] = 0;
            _service.Touch(id);
        }
        return client;
    }

    private sealed class ClientState(string id)
    {
        public readonly string Id = id;
        public double Deficit;
        /// <summary>Requests of this client in the waiting queue.</summary>
        public int Waiting;
    }
}
