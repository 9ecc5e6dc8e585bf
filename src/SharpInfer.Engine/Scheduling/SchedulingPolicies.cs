namespace SharpInfer.Engine.Scheduling;

/// <summary>Creates a scheduling policy by name (the server's --schedule option).</summary>
public static class SchedulingPolicies
{
    public static readonly IReadOnlyList<string> Names = ["fcfs", "lpm", "vtc", "dlpm"];

    /// <summary>The DLPM quantum when none is given, in service units (w_p per prompt token).</summary>
    public const double DefaultQuantum = 2048;

    /// <param name="name">fcfs, lpm, vtc or dlpm (case-insensitive).</param>
    /// <param name="quantum">DLPM's Q_u.</param>
    /// <param name="promptWeight">w_p: service per prompt token computed.</param>
    /// <param name="decodeWeight">w_q: service per generated token.</param>
    public static ISchedulingPolicy Create(string name, double quantum = DefaultQuantum, double promptWeight = 1, double decodeWeight = 2) =>
        name.ToLowerInvariant() switch
        {
            "fcfs" => new FcfsPolicy(promptWeight, decodeWeight),
            "lpm" => new LpmPolicy(promptWeight, decodeWeight),
            "vtc" => new VtcPolicy(promptWeight, decodeWeight),
            "dlpm" => new DlpmPolicy(quantum, promptWeight, decodeWeight),
            _ => throw new ArgumentException($"unknown scheduling policy '{name}'; valid: {string.Join(", ", Names)}", nameof(name)),
        };
}
