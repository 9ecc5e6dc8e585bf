using SharpInfer.Engine.Scheduling;
using SharpInfer.Engine.Simulation;
using Xunit.Abstractions;

namespace SharpInfer.Engine.Tests.Simulation;

public class SimulatorTests(ITestOutputHelper output)
{
    private const double PromptWeight = 1, DecodeWeight = 2, Quantum = 2048;

    // Two clients both past their fair share: "well" at 8 requests/s of fresh 128-token prompts, "flood" at 9x that
    // rate with a 512-token prefix shared by all its requests. The engine manages ~19 requests/s.
    private static readonly SimulatorOptions FloodEngine = new() { TotalPages = 1024, MaxBatchSize = 8, TokenBudget = 1024 };
    private static List<SimRequest> FloodWorkload() =>
        Workloads.Misbehaving(seed: 5, wellBehavedRate: 8, floodFactor: 9, seconds: 40, promptTokens: 128, floodPrefixTokens: 512, outputTokens: 32);

    /// <summary>VTC's U: the larger of w_p times the longest prompt and w_q times the most tokens a running batch holds.</summary>
    private static double U(List<SimRequest> workload, SimulatorOptions options)
    {
        int longestPrompt = workload.Max(r => r.Prompt.Length);
        int longestRequest = workload.Max(r => r.Prompt.Length + r.OutputLength);
        long batchTokens = Math.Min((long)options.TotalPages * options.PageSize, (long)options.MaxBatchSize * longestRequest);
        return Math.Max(PromptWeight * longestPrompt, DecodeWeight * batchTokens);
    }

    private SimulationResult Simulate(string policy, List<SimRequest> workload, SimulatorOptions options, double quantum = Quantum)
    {
        var result = new ServingSimulator(SchedulingPolicies.Create(policy, quantum, PromptWeight, DecodeWeight), options).Run(workload);
        output.WriteLine(result.ToString());
        return result;
    }

    [Fact]
    public void FairPoliciesBoundTheServiceGapThatFcfsAndLpmLetGrow()
    {
        var workload = FloodWorkload();
        double u = U(workload, FloodEngine);
        output.WriteLine($"U = {u}, 2U = {2 * u}, 2(Q+U) = {2 * (Quantum + u)}");
        var fcfs = Simulate("fcfs", workload, FloodEngine);
        var lpm = Simulate("lpm", workload, FloodEngine);
        var vtc = Simulate("vtc", workload, FloodEngine);
        var dlpm = Simulate("dlpm", workload, FloodEngine);
        foreach (var r in new[] { fcfs, lpm, vtc, dlpm })
            output.WriteLine($"{r.Policy}: well got {r.ComputedService["well"]:F0}, flood {r.ComputedService["flood"]:F0}; both backlogged in {r.Service.AllBackloggedSamples()} of {r.Service.Count} steps; well TTFT p50 {r.PercentileTimeToFirstToken(50, "well"):F2} s");

        // Under FCFS and LPM both clients stay backlogged nearly all the time, and the flood takes most of the service.
        // The fair policies serve the light client as it asks, so it is backlogged less often; the bound is checked
        // over the intervals in which both were (still thousands of steps).
        foreach (var r in new[] { fcfs, lpm }) Assert.True(r.Service.AllBackloggedSamples() > r.Service.Count * 3 / 4, r.Policy);
        foreach (var r in new[] { vtc, dlpm }) Assert.True(r.Service.AllBackloggedSamples() > 1000, r.Policy);
        Assert.True(vtc.Service.MaxDifference("well", "flood") <= 2 * u);
        Assert.True(dlpm.Service.MaxDifference("well", "flood") <= 2 * (Quantum + u));
        Assert.True(fcfs.Service.MaxDifference("well", "flood") > 2 * (Quantum + u));
        Assert.True(lpm.Service.MaxDifference("well", "flood") > 2 * (Quantum + u));
        // What the light client sees: a short wait under the fair policies, a queue the length of the flood otherwise.
        Assert.True(vtc.PercentileTimeToFirstToken(50, "well") < 2);
        Assert.True(dlpm.PercentileTimeToFirstToken(50, "well") < 15);
        Assert.True(fcfs.PercentileTimeToFirstToken(50, "well") > 30);
        Assert.True(lpm.PercentileTimeToFirstToken(50, "well") > 30);
    }

    [Fact]
    public void DlpmKeepsLocalityThatVtcThrowsAwayOnLongDocumentQa()
    {
        // 16 clients, each asking about its own 2000-token document; the KV pool holds about four documents.
        var workload = Workloads.LongDocumentQa(seed: 3, clients: 16, questionsPerClient: 20, ratePerClient: 1, documentTokens: 2000, questionTokens: 32, outputTokens: 32);
        var options = new SimulatorOptions { TotalPages = 640, MaxBatchSize = 32, TokenBudget = 2048 };
        var vtc = Simulate("vtc", workload, options);
        var dlpm = Simulate("dlpm", workload, options);
        var lpm = Simulate("lpm", workload, options);
        var fcfs = Simulate("fcfs", workload, options);
        output.WriteLine($"dlpm/vtc throughput {dlpm.TokenThroughput / vtc.TokenThroughput:F2}x, lpm/vtc {lpm.TokenThroughput / vtc.TokenThroughput:F2}x, fcfs/vtc {fcfs.TokenThroughput / vtc.TokenThroughput:F2}x");
        Assert.True(dlpm.TokenThroughput >= 1.5 * vtc.TokenThroughput);
        Assert.True(dlpm.PrefixHitRate > vtc.PrefixHitRate);
    }

    [Fact]
    public void RunningOutOfPagesPreemptsAndEveryPageKeepsOneOwner()
    {
        var workload = Workloads.MultiTurnChat(seed: 9, clients: 3, conversationsPerClient: 4, turns: 3, conversationRatePerClient: 2,
            thinkSeconds: 0.5, systemTokens: 64, userTokens: 16, outputTokens: 48);
        // 40 pages of 16 tokens: a handful of conversations at once, so decodes run out of pages.
        var options = new SimulatorOptions { TotalPages = 40, MaxBatchSize = 8, TokenBudget = 256, CheckInvariants = true };
        foreach (var policy in SchedulingPolicies.Names)
        {
            var result = Simulate(policy, workload, options);
            Assert.True(result.Preemptions > 0, policy);
            Assert.All(result.Requests, r => Assert.True(r.Finish >= r.FirstToken && r.FirstToken > r.Arrival));
            Assert.Equal(workload.Sum(r => (long)r.OutputLength), result.GeneratedTokens);
            Assert.True(result.PromptTokensAdmitted > workload.Sum(r => (long)r.Prompt.Length)); // recomputed prompts count again
        }
    }

    [Fact]
    public void SharedPrefixWorkloadsHitTheCache()
    {
        var options = new SimulatorOptions { TotalPages = 2048, MaxBatchSize = 32 };
        var tree = Simulate("lpm", Workloads.TreeOfThought(seed: 1, clients: 2, problemsPerClient: 5, branches: 8, problemRatePerClient: 0.5), options);
        // Eight branches share each 1000-token problem: once cached, 7 of 8 prompts find ~1000 of their ~1064 tokens.
        Assert.InRange(tree.PrefixHitRate, 0.5, 0.95);
        var chat = Simulate("lpm", Workloads.MultiTurnChat(seed: 2, clients: 2, conversationsPerClient: 4, turns: 4, conversationRatePerClient: 0.5), options);
        Assert.InRange(chat.PrefixHitRate, 0.5, 0.95); // each turn extends the last one's prompt and answer
        var fresh = Simulate("lpm", Workloads.Client(seed: 3, "solo", count: 40, rate: 5, prefixTokens: 200, suffixTokens: 0, outputTokens: 16, sharedPrefix: false), options);
        Assert.Equal(0, fresh.PrefixHitRate);
    }

    [Fact]
    public void GammaArrivalsHaveTheRequestedRateAndBurstiness()
    {
        var times = Workloads.GammaArrivals(new Random(4), 20000, rate: 10, cv: 2);
        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToArray();
        double mean = gaps.Average(), sd = Math.Sqrt(gaps.Average(g => (g - mean) * (g - mean)));
        Assert.InRange(mean, 0.095, 0.105);
        Assert.InRange(sd / mean, 1.85, 2.15);
        Assert.Equal(times, Workloads.GammaArrivals(new Random(4), 20000, rate: 10, cv: 2));
    }
}
