namespace SharpInfer.Engine.Simulation;

/// <summary>
/// Seeded synthetic workloads with real shared prefixes (the token arrays are shared, so the prefix cache hits), shaped
/// after the DLPM paper's evaluation: long-document QA, tree-of-thought, multi-turn chat and misbehaving clients, with
/// Gamma-distributed arrivals. Combine clients with <see cref="Merge"/>.
/// </summary>
public static class Workloads
{
    /// <summary>Token ids the generators draw from (a vocabulary-sized range; made-up outputs lie outside it).</summary>
    public const int Vocabulary = 32000;

    /// <summary>
    /// <paramref name="count"/> arrival times of a Gamma renewal process: mean gap 1/<paramref name="rate"/>,
    /// coefficient of variation <paramref name="cv"/> (1 is Poisson, larger is burstier).
    /// </summary>
    public static double[] GammaArrivals(Random random, int count, double rate, double cv = 1, double start = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cv);
        double shape = 1 / (cv * cv), scale = 1 / (rate * shape);
        var times = new double[count];
        double t = start;
        for (int i = 0; i < count; i++)
        {
            t += SampleGamma(random, shape) * scale;
            times[i] = t;
        }
        return times;
    }

    /// <summary>
    /// Long-document QA: each client owns a document of <paramref name="documentTokens"/> tokens and asks questions
    /// about it; every prompt is the client's document followed by a short question.
    /// </summary>
    public static List<SimRequest> LongDocumentQa(int seed, int clients, int questionsPerClient, double ratePerClient,
        int documentTokens = 2000, int questionTokens = 32, int outputTokens = 32, double cv = 1)
    {
        var random = new Random(seed);
        var parts = new List<SimRequest>[clients];
        for (int c = 0; c < clients; c++)
        {
            var document = Tokens(random, documentTokens);
            var times = GammaArrivals(random, questionsPerClient, ratePerClient, cv);
            parts[c] = times.Select(t => new SimRequest
            {
                ClientId = $"doc{c}",
                Arrival = t,
                Prompt = [.. document, .. Tokens(random, questionTokens)],
                OutputLength = outputTokens,
            }).ToList();
        }
        return Merge(parts);
    }

    /// <summary>
    /// Tree-of-thought: each client poses problems; every problem fans out into <paramref name="branches"/> requests
    /// that arrive together and share the problem statement, each with its own short line of thought.
    /// </summary>
    public static List<SimRequest> TreeOfThought(int seed, int clients, int problemsPerClient, int branches, double problemRatePerClient,
        int problemTokens = 1000, int branchTokens = 64, int outputTokens = 64, double cv = 1)
    {
        var random = new Random(seed);
        var requests = new List<SimRequest>();
        for (int c = 0; c < clients; c++)
        {
            foreach (double t in GammaArrivals(random, problemsPerClient, problemRatePerClient, cv))
            {
                var problem = Tokens(random, problemTokens);
                for (int b = 0; b < branches; b++)
                    requests.Add(new SimRequest { ClientId = $"tot{c}", Arrival = t, Prompt = [.. problem, .. Tokens(random, branchTokens)], OutputLength = outputTokens });
            }
        }
        return Merge([requests]);
    }

    /// <summary>
    /// Multi-turn chat: each conversation starts at a Gamma arrival and sends a turn every <paramref name="thinkSeconds"/>;
    /// each turn's prompt is the previous prompt, the previous answer and a new user message, so it extends the last one.
    /// </summary>
    public static List<SimRequest> MultiTurnChat(int seed, int clients, int conversationsPerClient, int turns, double conversationRatePerClient,
        double thinkSeconds = 5, int systemTokens = 200, int userTokens = 64, int outputTokens = 128, double cv = 1)
    {
        var random = new Random(seed);
        var requests = new List<SimRequest>();
        for (int c = 0; c < clients; c++)
        {
            var system = Tokens(random, systemTokens); // one system prompt per client, shared by its conversations
            foreach (double start in GammaArrivals(random, conversationsPerClient, conversationRatePerClient, cv))
            {
                int[] history = system;
                for (int turn = 0; turn < turns; turn++)
                {
                    int[] prompt = [.. history, .. Tokens(random, userTokens)];
                    var answer = Tokens(random, outputTokens);
                    requests.Add(new SimRequest { ClientId = $"chat{c}", Arrival = start + turn * thinkSeconds, Prompt = prompt, OutputLength = outputTokens, Output = answer });
                    history = [.. prompt, .. answer];
                }
            }
        }
        return Merge([requests]);
    }

    /// <summary>
    /// One client's stream of requests: a prefix of <paramref name="prefixTokens"/> (one shared by all its requests
    /// when <paramref name="sharedPrefix"/>, else fresh per request) plus a fresh suffix. A misbehaving client is this
    /// with a high rate or a long prefix; a well-behaved one with a modest rate.
    /// </summary>
    public static List<SimRequest> Client(int seed, string clientId, int count, double rate, int prefixTokens, int suffixTokens,
        int outputTokens, bool sharedPrefix, double cv = 1, double start = 0)
    {
        var random = new Random(seed);
        var shared = sharedPrefix ? Tokens(random, prefixTokens) : null;
        return GammaArrivals(random, count, rate, cv, start).Select(t => new SimRequest
        {
            ClientId = clientId,
            Arrival = t,
            Prompt = [.. shared ?? Tokens(random, prefixTokens), .. Tokens(random, suffixTokens)],
            OutputLength = outputTokens,
        }).ToList();
    }

    /// <summary>
    /// A well-behaved client and a misbehaving one that floods: <paramref name="floodFactor"/> times the rate, with a
    /// long prefix shared by all its requests (so LPM favours it too).
    /// </summary>
    public static List<SimRequest> Misbehaving(int seed, double wellBehavedRate, double floodFactor, double seconds,
        int promptTokens = 256, int floodPrefixTokens = 1024, int outputTokens = 64)
    {
        var well = Client(seed, "well", (int)(wellBehavedRate * seconds), wellBehavedRate, promptTokens, 0, outputTokens, sharedPrefix: false);
        double floodRate = wellBehavedRate * floodFactor;
        var flood = Client(seed + 1, "flood", (int)(floodRate * seconds), floodRate, floodPrefixTokens, 32, outputTokens, sharedPrefix: true);
        return Merge([well, flood]);
    }

    /// <summary>All requests of the parts in arrival order (stable for equal times).</summary>
    public static List<SimRequest> Merge(IEnumerable<IEnumerable<SimRequest>> parts) =>
        parts.SelectMany(p => p).OrderBy(r => r.Arrival).ToList();

    private static int[] Tokens(Random random, int count)
    {
        var tokens = new int[count];
        for (int i = 0; i < count; i++) tokens[i] = random.Next(1, Vocabulary);
        return tokens;
    }

    /// <summary>Marsaglia and Tsang's method; shapes below 1 are boosted by U^(1/shape).</summary>
    private static double SampleGamma(Random random, double shape)
    {
        if (shape < 1) return SampleGamma(random, shape + 1) * Math.Pow(random.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal(random);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x) return d * v;
            if (Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    private static double Normal(Random random)
    {
        double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
