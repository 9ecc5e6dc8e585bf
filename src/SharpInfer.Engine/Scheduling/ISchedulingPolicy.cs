namespace SharpInfer.Engine.Scheduling;

/// <summary>
/// A request waiting for (or holding) a place in the running batch, as a scheduling policy sees it.
/// The engine creates one per request; policies keep their own per-client state.
/// </summary>
public sealed class ScheduledRequest
{
    public required long Id { get; init; }
    public required string ClientId { get; init; }
    public double ClientWeight { get; init; } = 1;
    /// <summary>Prompt tokens (for a preempted request: prompt plus the tokens generated so far).</summary>
    public required int[] Tokens { get; set; }
    /// <summary>Arrival order (monotonic); FCFS and ties use it.</summary>
    public required long Arrival { get; init; }
    /// <summary>Tokens of <see cref="Tokens"/> found in the prefix cache at the last match (set through the matcher).</summary>
    public int CachedTokens { get; set; }
    /// <summary>Engine-owned state (pages, sampler, ...); policies ignore it.</summary>
    public object? EngineState { get; set; }
}

/// <summary>What a policy may ask the engine about the prefix cache.</summary>
public interface IPrefixMatcher
{
    /// <summary>Tokens of the request already cached (page-aligned), without changing LRU order or locks.</summary>
    int MatchLength(ScheduledRequest request);
}

/// <summary>
/// Chooses which waiting requests join the running batch, and keeps the per-client accounting fairness needs.
/// The engine calls, on its single loop thread: <see cref="Enqueue"/> on arrival; once per step
/// <see cref="Admit"/>; <see cref="OnPrefill"/> for prompt tokens computed; <see cref="OnDecode"/> for tokens
/// generated; <see cref="Remove"/> when a waiting request is cancelled.
/// </summary>
public interface ISchedulingPolicy
{
    string Name { get; }
    int WaitingCount { get; }

    void Enqueue(ScheduledRequest request);

    /// <summary>Removes a waiting request (cancelled before it ran). Returns false if it was not waiting.</summary>
    bool Remove(ScheduledRequest request);

    /// <summary>
    /// Offers waiting requests to the engine in the policy's order. <paramref name="tryAdmit"/> returns true when the
    /// engine took the request (it then leaves the queue) and false when it does not fit this step (KV pages or the
    /// token budget), after which the policy stops offering. Returns how many were admitted.
    /// </summary>
    int Admit(IPrefixMatcher matcher, Func<ScheduledRequest, bool> tryAdmit);

    /// <summary><paramref name="tokens"/> prompt tokens of the request were computed (cache hits are not charged).</summary>
    void OnPrefill(ScheduledRequest request, int tokens);

    /// <summary>The request generated <paramref name="tokens"/> tokens this step.</summary>
    void OnDecode(ScheduledRequest request, int tokens);

    /// <summary>The service counter of each client the policy has seen (VTC counter, DLPM received service, ...).</summary>
    IReadOnlyDictionary<string, double> Service { get; }
}
