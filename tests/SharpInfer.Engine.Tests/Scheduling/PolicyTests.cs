using SharpInfer.Engine.Scheduling;

namespace SharpInfer.Engine.Tests.Scheduling;

public class PolicyTests
{
    /// <summary>A matcher that reports a fixed cached length per request id.</summary>
    private sealed class FixedMatcher(Dictionary<long, int> cached) : IPrefixMatcher
    {
        public int MatchLength(ScheduledRequest request) => cached.GetValueOrDefault(request.Id);
    }

    private static readonly FixedMatcher NoCache = new([]);

    private static ScheduledRequest Request(long id, string client = "a", int tokens = 10, double weight = 1) =>
        new() { Id = id, ClientId = client, Tokens = new int[tokens], Arrival = id, ClientWeight = weight };

    /// <summary>Admits up to <paramref name="capacity"/> requests and returns their ids in the order offered.</summary>
    private static List<long> Admit(ISchedulingPolicy policy, IPrefixMatcher matcher, int capacity, List<long>? offered = null)
    {
        var admitted = new List<long>();
        int count = policy.Admit(matcher, r =>
        {
            offered?.Add(r.Id);
            if (admitted.Count == capacity) return false;
            admitted.Add(r.Id);
            return true;
        });
        Assert.Equal(admitted.Count, count);
        return admitted;
    }

    [Fact]
    public void FcfsAdmitsInArrivalOrderAndStopsAtTheFirstRefusal()
    {
        var policy = new FcfsPolicy();
        foreach (long id in new long[] { 3, 1, 2, 5, 4 }) policy.Enqueue(Request(id));
        var offered = new List<long>();
        Assert.Equal([1, 2], Admit(policy, NoCache, 2, offered));
        Assert.Equal([1, 2, 3], offered); // the refused one was offered once, nothing after it
        Assert.Equal(3, policy.WaitingCount);
        Assert.False(policy.Remove(Request(4))); // an equal-looking but different instance is not waiting
        Assert.Equal([3, 4, 5], Admit(policy, NoCache, 10));
        Assert.Equal(0, policy.WaitingCount);
    }

    [Fact]
    public void LpmAdmitsLongestCachedPrefixFirstWithFcfsTies()
    {
        var policy = new LpmPolicy();
        var requests = Enumerable.Range(1, 5).Select(i => Request(i)).ToList();
        requests.ForEach(policy.Enqueue);
        var matcher = new FixedMatcher(new() { [2] = 64, [4] = 128, [5] = 64 });
        Assert.Equal([4, 2, 5, 1], Admit(policy, matcher, 4));
        Assert.Equal(64, requests[1].CachedTokens);
        Assert.True(policy.Remove(requests[2]));
        Assert.Equal(0, policy.WaitingCount);
    }

    [Fact]
    public void VtcServesTheClientWithTheSmallestCounter()
    {
        var policy = new VtcPolicy();
        for (int i = 0; i < 4; i++) policy.Enqueue(Request(i, "heavy", tokens: 100));
        policy.Enqueue(Request(10, "light", tokens: 10));
        policy.Enqueue(Request(11, "light", tokens: 10));
        // heavy(0) and light(0) tie: heavy goes first (its queue became active first), then light twice (10, 20 < 100).
        Assert.Equal([0, 10, 11, 1], Admit(policy, NoCache, 4));
        Assert.Equal(200, policy.Service["heavy"]);
        Assert.Equal(20, policy.Service["light"]);
        policy.OnDecode(Request(10, "light"), 5);
        Assert.Equal(30, policy.Service["light"]); // w_q = 2 per generated token
    }

    [Fact]
    public void VtcLiftsAReturningClientSoIdleTimeIsNotBanked()
    {
        var policy = new VtcPolicy();
        policy.Enqueue(Request(1, "busy", tokens: 1000));
        policy.Enqueue(Request(2, "busy", tokens: 1000));
        Admit(policy, NoCache, 1); // busy: 1000, one still waiting
        policy.Enqueue(Request(3, "late", tokens: 10));
        Assert.Equal(1000, policy.Service["late"]); // lifted to the smallest active counter, not left at 0
        Assert.Equal([2, 3], Admit(policy, NoCache, 2)); // busy's request is older and ties: no burst of credit for late
    }

    [Fact]
    public void VtcDividesChargesByTheClientWeight()
    {
        var policy = new VtcPolicy();
        policy.Enqueue(Request(1, "gold", tokens: 100, weight: 2));
        Admit(policy, NoCache, 1);
        Assert.Equal(50, policy.Service["gold"]);
    }

    [Fact]
    public void DlpmGatesLpmOrderByDeficitAndRefillsWhenAPassAdmitsNothing()
    {
        var policy = new DlpmPolicy(quantum: 100);
        var hot = Enumerable.Range(1, 6).Select(i => Request(i, "hot", tokens: 80)).ToList();
        var cold = Enumerable.Range(11, 3).Select(i => Request(i, "cold", tokens: 80)).ToList();
        hot.ForEach(policy.Enqueue);
        cold.ForEach(policy.Enqueue);
        // hot's requests are mostly cached (charge 20 each), cold's not at all (charge 80).
        var cached = hot.ToDictionary(r => r.Id, _ => 60);
        var matcher = new FixedMatcher(cached);
        var admitted = Admit(policy, matcher, 9);
        // Refill 1 (both at 0): hot takes 5 (100/20), cold 2 (80, then 20 > 0 left). Refill 2: the rest.
        Assert.Equal([1, 2, 3, 4, 5, 11, 12, 6, 13], admitted);
        Assert.Equal(100 - 5 * 20 + 100 - 20, policy.Deficits["hot"]);
        Assert.Equal(100 - 160 + 100 - 80, policy.Deficits["cold"]);
    }

    [Fact]
    public void DlpmChargesComputedPromptTokensOnceAndDecodeTokensByWeight()
    {
        var policy = new DlpmPolicy(quantum: 1000);
        var request = Request(1, "a", tokens: 100);
        policy.Enqueue(request);
        Admit(policy, new FixedMatcher(new() { [1] = 40 }), 1);
        Assert.Equal(1000 - 60, policy.Deficits["a"]);
        policy.OnPrefill(request, 30); // chunked prefill: covered by the admission charge
        policy.OnPrefill(request, 30);
        Assert.Equal(1000 - 60, policy.Deficits["a"]);
        Assert.Equal(60, policy.Service["a"]);
        policy.OnDecode(request, 3);
        Assert.Equal(1000 - 66, policy.Deficits["a"]);
        Assert.Equal(66, policy.Service["a"]);
    }

    [Fact]
    public void DlpmDoesNotBankCreditAcrossAnIdleSpell()
    {
        var policy = new DlpmPolicy(quantum: 1000);
        var first = Request(1, "a", tokens: 100);
        policy.Enqueue(first);
        Admit(policy, NoCache, 1);
        Assert.Equal(900, policy.Deficits["a"]);
        policy.Enqueue(Request(2, "a", tokens: 100)); // the queue was empty: the 900 left is dropped
        Assert.Equal(0, policy.Deficits["a"]);
    }

    [Fact]
    public void DlpmRefundsWhatAPreemptedRequestDidNotCompute()
    {
        var policy = new DlpmPolicy(quantum: 1000);
        var request = Request(1, "a", tokens: 100);
        policy.Enqueue(request);
        Admit(policy, NoCache, 1);
        policy.OnPrefill(request, 40);
        policy.Enqueue(request); // preempted mid-prefill
        Assert.Equal(0, policy.Deficits["a"]); // 1000 - 40, then no banking on re-activation: min(960, 0)
        Assert.Equal(40, policy.Service["a"]);
    }

    [Theory]
    [InlineData("fcfs", typeof(FcfsPolicy))]
    [InlineData("LPM", typeof(LpmPolicy))]
    [InlineData("vtc", typeof(VtcPolicy))]
    [InlineData("dlpm", typeof(DlpmPolicy))]
    public void TheFactoryKnowsEachPolicy(string name, Type type)
    {
        var policy = SchedulingPolicies.Create(name);
        Assert.IsType(type, policy);
        Assert.Equal(name.ToLowerInvariant(), policy.Name);
    }

    [Fact]
    public void TheFactoryListsTheValidNamesForAnUnknownOne()
    {
        var e = Assert.Throws<ArgumentException>(() => SchedulingPolicies.Create("random"));
        Assert.Contains("fcfs, lpm, vtc, dlpm", e.Message);
    }

    [Fact]
    public void LpmSortsAQueueOfThousandsQuickly()
    {
        var policy = new LpmPolicy();
        var cached = new Dictionary<long, int>();
        for (int i = 0; i < 5000; i++)
        {
            policy.Enqueue(Request(i));
            cached[i] = (i * 7919) % 100;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int step = 0; step < 50; step++) Admit(policy, new FixedMatcher(cached), 1);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{clock.Elapsed}");
        Assert.Equal(4950, policy.WaitingCount);
    }
}
