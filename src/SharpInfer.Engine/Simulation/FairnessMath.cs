namespace SharpInfer.Engine.Simulation;

/// <summary>Where the largest service gap between two backlogged clients opened, and the gap over time.</summary>
/// <param name="Max">The largest |ΔW_a − ΔW_b| over any interval in which both a and b were backlogged throughout.</param>
/// <param name="Series">Per sample: the largest gap so far within the backlogged runs still open at that sample (0 where no pair is backlogged).</param>
public sealed record BackloggedDifference(double Max, string? ClientA, string? ClientB, double[] Series);

/// <summary>
/// The fairness measures of the VTC and DLPM papers over sampled per-client service: Jain's index, the largest
/// service difference between clients while both are backlogged, and the bounds the fair policies promise.
/// </summary>
public static class FairnessMath
{
    /// <summary>Jain's index: (Σx)² / (n Σx²); 1 when all are equal, 1/n when one client got everything.</summary>
    public static double Jain(IEnumerable<double> values) => SimulationResult.JainOf(values);

    /// <summary>Nearest-rank percentile (0 for no values).</summary>
    public static double Percentile(IEnumerable<double> values, double percentile)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return 0;
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    /// <summary>
    /// For every pair of clients and every maximal run of samples in which both were backlogged, the spread (max − min)
    /// of W_a − W_b within the run: that is the largest |ΔW_a − ΔW_b| over any sub-interval of the run.
    /// </summary>
    /// <param name="service">[sample][client] cumulative service.</param>
    /// <param name="backlogged">[sample][client] whether the client had requests waiting.</param>
    public static BackloggedDifference MaxBackloggedDifference(IReadOnlyList<string> clients, IReadOnlyList<double[]> service, IReadOnlyList<bool[]> backlogged)
    {
        if (service.Count != backlogged.Count) throw new ArgumentException("service and backlog need the same samples");
        int n = clients.Count, samples = service.Count;
        var series = new double[samples];
        double worst = 0;
        string? worstA = null, worstB = null;
        for (int a = 0; a < n; a++)
        {
            for (int b = a + 1; b < n; b++)
            {
                double low = 0, high = 0;
                bool inRun = false;
                for (int s = 0; s < samples; s++)
                {
                    if (!backlogged[s][a] || !backlogged[s][b]) { inRun = false; continue; }
                    double difference = service[s][a] - service[s][b];
                    if (!inRun) { low = high = difference; inRun = true; }
                    low = Math.Min(low, difference);
                    high = Math.Max(high, difference);
                    series[s] = Math.Max(series[s], high - low);
                    if (high - low > worst) { worst = high - low; worstA = clients[a]; worstB = clients[b]; }
                }
            }
        }
        return new BackloggedDifference(worst, worstA, worstB, series);
    }

    /// <summary>VTC's unit U = max(w_p · longest input, w_q · most tokens in a batch).</summary>
    public static double Unit(double promptWeight, int maxInputTokens, double outputWeight, long maxBatchTokens) =>
        Math.Max(promptWeight * maxInputTokens, outputWeight * maxBatchTokens);

    /// <summary>
    /// The bound on the backlogged service difference a policy promises: 2U for VTC, 2(Q_u + U) for DLPM. FCFS and
    /// LPM promise none; they are held to VTC's 2U for comparison.
    /// </summary>
    public static double Bound(string policy, double unit, double quantum) =>
        policy.Equals("dlpm", StringComparison.OrdinalIgnoreCase) ? 2 * (quantum + unit) : 2 * unit;

    /// <summary>Whether the policy promises <see cref="Bound"/> (VTC and DLPM) or is only compared with it.</summary>
    public static bool PromisesBound(string policy) =>
        policy.Equals("vtc", StringComparison.OrdinalIgnoreCase) || policy.Equals("dlpm", StringComparison.OrdinalIgnoreCase);
}
