namespace SharpInfer.Engine.Simulation;

/// <summary>What `bench serve` replays: the workload kind, its clients, arrivals and sizes.</summary>
public sealed record BenchWorkloadOptions
{
    public static readonly IReadOnlyList<string> Kinds = ["doc-qa", "tot", "chat", "mixed"];

    /// <summary>doc-qa, tot, chat, or mixed (client i gets doc-qa, tot, chat in turn).</summary>
    public string Kind { get; init; } = "doc-qa";
    public int Clients { get; init; } = 2;
    /// <summary>Requests per second of each well-behaved client (Gamma arrivals).</summary>
    public double Rate { get; init; } = 1;
    /// <summary>Coefficient of variation of the gaps (1 = Poisson).</summary>
    public double Cv { get; init; } = 1;
    /// <summary>Arrivals stop after this many seconds.</summary>
    public double Seconds { get; init; } = 30;
    /// <summary>The longest prompt any request has, in tokens; the workloads' parts are sized from it.</summary>
    public int PromptTokens { get; init; } = 256;
    public int OutputTokens { get; init; } = 32;
    /// <summary>Adds a misbehaving client "flood" at <see cref="FloodFactor"/> times the rate, with a long prefix of its own shared by all its requests.</summary>
    public bool FloodClient { get; init; }
    public double FloodFactor { get; init; } = 4;
    /// <summary>The flood client's shared prefix; 0 = most of <see cref="PromptTokens"/>.</summary>
    public int FloodPrefixTokens { get; init; }
    public int Seed { get; init; } = 1;

    /// <summary>Checks ranges; returns a one-line problem or null.</summary>
    public string? Validate() =>
        !Kinds.Contains(Kind) ? $"--workload '{Kind}' must be one of {string.Join(", ", Kinds)}" :
        Clients < 1 ? $"--clients {Clients} must be at least 1" :
        !(Rate > 0) || double.IsInfinity(Rate) ? $"--rate {Rate} must be above 0" :
        !(Cv > 0) || double.IsInfinity(Cv) ? $"--cv {Cv} must be above 0" :
        !(Seconds > 0) || double.IsInfinity(Seconds) ? $"--duration {Seconds} must be above 0" :
        PromptTokens < 16 ? $"--prompt-tokens {PromptTokens} must be at least 16" :
        OutputTokens < 1 ? $"--output-tokens {OutputTokens} must be at least 1" :
        !(FloodFactor > 0) || double.IsInfinity(FloodFactor) ? $"--flood-factor {FloodFactor} must be above 0" :
        FloodPrefixTokens < 0 || FloodPrefixTokens > PromptTokens - PromptTokens / 8 ? $"--flood-prefix-tokens {FloodPrefixTokens} must be between 0 and {PromptTokens - PromptTokens / 8} (the prompt minus its suffix)" : null;
}

/// <summary>
/// The workloads of `bench serve`, built from <see cref="Workloads"/> so live runs and simulations replay the same
/// requests: per-client documents with questions, tree-of-thought branches of one problem, multi-turn chats that
/// extend themselves, and optionally a flooding client. Every prompt is at most <see cref="BenchWorkloadOptions.PromptTokens"/>.
/// </summary>
public static class BenchWorkloads
{
    public const string FloodClientName = "flood";

    public static List<SimRequest> Build(BenchWorkloadOptions options)
    {
        if (options.Validate() is { } problem) throw new ArgumentException(problem, nameof(options));
        int p = options.PromptTokens, output = options.OutputTokens;
        var parts = new List<IEnumerable<SimRequest>>();
        for (int c = 0; c < options.Clients; c++)
        {
            string kind = options.Kind == "mixed" ? BenchWorkloadOptions.Kinds[c % 3] : options.Kind;
            int seed = options.Seed * 1000 + c;
            // Enough arrivals to cover the window even when the Gamma gaps run short; later ones are dropped below.
            int count = (int)Math.Ceiling(options.Rate * options.Seconds * 1.5) + 8;
            List<SimRequest> requests = kind switch
            {
                "doc-qa" => Workloads.LongDocumentQa(seed, 1, count, options.Rate, documentTokens: p - p / 8, questionTokens: p / 8, outputTokens: output, cv: options.Cv),
                // Four branches per problem: problems arrive at a quarter of the request rate.
                "tot" => Workloads.TreeOfThought(seed, 1, count / 4 + 2, 4, options.Rate / 4, problemTokens: p - p / 4, branchTokens: p / 4, outputTokens: output, cv: options.Cv),
                // Three turns, each extending the last: the third is system + 3 user messages + 2 answers <= p.
                _ => Workloads.MultiTurnChat(seed, 1, count / 3 + 2, 3, options.Rate / 3, thinkSeconds: 1 / options.Rate,
                    systemTokens: p / 4, userTokens: p / 8, outputTokens: Math.Min(output, p / 8), cv: options.Cv),
            };
            string name = $"client{c}";
            parts.Add(requests.Where(r => r.Arrival < options.Seconds).Select(r => r with { ClientId = name }));
        }
        if (options.FloodClient)
        {
            double rate = options.Rate * options.FloodFactor;
            int prefix = options.FloodPrefixTokens > 0 ? options.FloodPrefixTokens : p - p / 8;
            int count = (int)Math.Ceiling(rate * options.Seconds * 1.5) + 8;
            parts.Add(Workloads.Client(options.Seed * 1000 + 999, FloodClientName, count, rate, prefix, p / 8, output, sharedPrefix: true, options.Cv)
                .Where(r => r.Arrival < options.Seconds));
        }
        return Workloads.Merge(parts);
    }

    /// <summary>
    /// The same requests with token ids folded into a model's vocabulary (above its low ids, where control tokens
    /// live), so a live server accepts them. Equal ids stay equal, so shared prefixes stay shared.
    /// </summary>
    public static List<SimRequest> ForVocabulary(IEnumerable<SimRequest> requests, int vocabularySize)
    {
        int low = Math.Min(256, vocabularySize / 8);
        int span = vocabularySize - low;
        if (span < 1) throw new ArgumentException($"a vocabulary of {vocabularySize} tokens is too small", nameof(vocabularySize));
        return requests.Select(r => r with
        {
            Prompt = r.Prompt.Select(t => low + (int)((uint)t % (uint)span)).ToArray(),
            Output = r.Output?.Select(t => low + (int)((uint)t % (uint)span)).ToArray(),
        }).ToList();
    }
}
