namespace SharpInfer.Engine.Simulation;

/// <summary>A request of a simulated workload: who sends it, when, its prompt, and how many tokens it generates.</summary>
public sealed record SimRequest
{
    public required string ClientId { get; init; }
    public double ClientWeight { get; init; } = 1;
    /// <summary>Arrival time in seconds.</summary>
    public required double Arrival { get; init; }
    /// <summary>Prompt tokens; requests that share a prefix share these values, so the prefix cache sees real hits.</summary>
    public required int[] Prompt { get; init; }
    public required int OutputLength { get; init; }
    /// <summary>
    /// The tokens the request generates, when a later request must see them (a chat's next turn extends this one);
    /// otherwise the simulator makes up tokens no other request shares.
    /// </summary>
    public int[]? Output { get; init; }
}

/// <summary>What happened to one request in a simulation; times in seconds.</summary>
public sealed record RequestOutcome(
    int Index, string ClientId, double Arrival, double FirstToken, double Finish, int PromptTokens, int OutputTokens,
    int CachedPromptTokens, int Preemptions)
{
    public double TimeToFirstToken => FirstToken - Arrival;
}
