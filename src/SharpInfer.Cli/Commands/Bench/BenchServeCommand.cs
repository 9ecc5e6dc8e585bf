using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using SharpInfer.Engine.Scheduling;
using SharpInfer.Engine.Serving;
using SharpInfer.Engine.Simulation;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;
using SharpInfer.Server;
using SharpInfer.Server.Benchmarking;

namespace SharpInfer.Cli.Commands.Bench;

/// <summary>What `bench serve` was asked for, checked before anything loads.</summary>
public sealed record BenchServeOptions
{
    public string? Url { get; init; }
    public string? Model { get; init; }
    public int Threads { get; init; } = Environment.ProcessorCount;
    public IReadOnlyList<string> Policies { get; init; } = SchedulingPolicies.Names;
    public double Quantum { get; init; } = SchedulingPolicies.DefaultQuantum;
    public int KvPages { get; init; }
    /// <summary>Context per request of a started server (0 = the model's; lowered to what --kv-pages holds).</summary>
    public int Context { get; init; }
    public int MaxBatchTokens { get; init; } = 128;
    public int MaxQueue { get; init; } = 1024;
    public IReadOnlyList<int> Clients { get; init; } = [2];
    public required BenchWorkloadOptions Workload { get; init; }
    public bool Simulate { get; init; }
    public bool LoadTest { get; init; }
    /// <summary>Seconds a load test waits for the requests in flight when its window closes.</summary>
    public double DrainSeconds { get; init; } = 600;
    public StepCostModel? Cost { get; init; }
    public int VocabularySize { get; init; } = 32000;
    public int SampleMilliseconds { get; init; } = 100;
    public string? Json { get; init; }
    public string? Plots { get; init; }

    public string? Validate()
    {
        if (Simulate && LoadTest) return "--simulate and --load-test are different modes; give one";
        if (Simulate && Url != null) return "--simulate runs no server; --url cannot go with it";
        if (!Simulate && (Url == null) == (Model == null) && !(Url == null && Model == null)) return "give --url (a running server) or --model (servers started here), not both";
        if (Url != null && (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))) return $"--url '{Url}' must be an absolute http:// or https:// address";
        if (Policies.Count == 0) return "--policies must name at least one policy";
        if (Policies.FirstOrDefault(p => !SchedulingPolicies.Names.Contains(p)) is { } bad) return $"--policies: '{bad}' is not one of {string.Join(", ", SchedulingPolicies.Names)}";
        if (!(Quantum > 0) || double.IsInfinity(Quantum)) return $"--quantum {Quantum} must be above 0";
        if (KvPages < 0) return $"--kv-pages {KvPages} must be >= 0";
        if (Context < 0) return $"--context {Context} must be >= 0";
        if (MaxBatchTokens is < 2 or > 8192) return $"--max-batch-tokens {MaxBatchTokens} must be between 2 and 8192";
        if (MaxQueue < 1) return $"--max-queue {MaxQueue} must be at least 1";
        if (Threads is < 1 or > 1024) return $"--threads {Threads} must be between 1 and 1024";
        if (Clients.Count == 0 || Clients.Any(c => c is < 1 or > 10_000)) return "--clients must be between 1 and 10000";
        if (!Simulate && Clients.Count > 1) return "--clients takes several counts only with --simulate";
        if (!(DrainSeconds >= 1) || DrainSeconds > 86_400) return $"--drain-timeout {DrainSeconds} must be between 1 and 86400 seconds";
        if (SampleMilliseconds is < 10 or > 10_000) return $"--sample-ms {SampleMilliseconds} must be between 10 and 10000";
        if (VocabularySize < 16) return $"--vocab-size {VocabularySize} must be at least 16";
        return Workload.Validate();
    }
}

/// <summary>
/// `sharpinfer bench serve`: fairness and throughput of the scheduling policies (FCFS, LPM, VTC, DLPM) on shared-prefix
/// workloads, as in the DLPM paper's evaluation. Live: against a running server (--url) or one started here per
/// policy (--model). --simulate: the same workloads through the serving simulator with a step cost calibrated on
/// the model. --load-test: many closed-loop streaming clients, then a check that every KV page comes back.
/// </summary>
public static class BenchServeCommand
{
    /// <summary>Exit code of a load test that saw failures or leaked KV pages.</summary>
    public const int LoadTestFailed = 1;
    /// <summary>Exit code of a load test stopped by Ctrl+C or SIGTERM before it finished (128 + SIGINT, as shells report it).</summary>
    public const int LoadTestStopped = 130;

    public static Command Create()
    {
        var defaults = new BenchWorkloadOptions();
        var url = new Option<string?>("--url") { Description = "An already running server (sharpinfer serve), e.g. http://127.0.0.1:8000" };
        var model = ModelOptions.Model();
        var threads = ModelOptions.Threads();
        var policies = new Option<string>("--policies") { Description = "Policies to compare, comma-separated (a fresh server each)", DefaultValueFactory = _ => string.Join(",", SchedulingPolicies.Names) };
        var quantum = new Option<double>("--quantum") { Description = "DLPM's quantum Q_u in service units", DefaultValueFactory = _ => SchedulingPolicies.DefaultQuantum };
        var kvPages = new Option<int>("--kv-pages") { Description = "KV cache pages (0 = sized from the context; simulation: 4096)" };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { Description = "Tokens per engine step (the chunked-prefill budget)", DefaultValueFactory = _ => 128 };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests that may wait in a started server; more get 429", DefaultValueFactory = _ => 1024 };
        var workload = new Option<string>("--workload") { Description = $"Workload: {string.Join(", ", BenchWorkloadOptions.Kinds)}", DefaultValueFactory = _ => defaults.Kind };
        var clients = new Option<string>("--clients") { Description = "Well-behaved clients (load test: concurrent clients; simulation: a list such as 5,20,50)", DefaultValueFactory = _ => "2" };
        var rate = new Option<double>("--rate") { Description = "Requests per second per client (Gamma arrivals)", DefaultValueFactory = _ => defaults.Rate };
        var cv = new Option<double>("--cv") { Description = "Coefficient of variation of the arrival gaps (1 = Poisson)", DefaultValueFactory = _ => defaults.Cv };
        var duration = new Option<double>("--duration") { Description = "Seconds of arrivals (live: the measured window; simulated time with --simulate)", DefaultValueFactory = _ => 30 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Longest prompt in tokens (documents, problems and chats are sized from it)", DefaultValueFactory = _ => defaults.PromptTokens };
        var outputTokens = new Option<int>("--output-tokens") { Description = "Tokens each request generates (max_tokens)", DefaultValueFactory = _ => defaults.OutputTokens };
        var flood = new Option<bool>("--flood-client") { Description = "Add a misbehaving client 'flood' sending at --flood-factor times the rate with a long shared prefix" };
        var floodFactor = new Option<double>("--flood-factor") { Description = "How many times the rate the flood client sends", DefaultValueFactory = _ => defaults.FloodFactor };
        var floodPrefix = new Option<int>("--flood-prefix-tokens") { Description = "The flood client's shared prefix (0 = most of --prompt-tokens)" };
        var seed = new Option<int>("--seed") { Description = "Workload seed", DefaultValueFactory = _ => defaults.Seed };
        var simulate = new Option<bool>("--simulate") { Description = "Run the workloads through the serving simulator (step costs calibrated on --model)" };
        var loadTest = new Option<bool>("--load-test") { Description = "Closed-loop load test: --clients streaming clients for --duration; exit 1 on failures or leaked KV pages" };
        var drainTimeout = new Option<double>("--drain-timeout") { Description = "Load test: seconds to wait for the requests in flight when --duration ends (default: 600, what the OpenAI Python and Node clients wait); ones still running then count as failed", DefaultValueFactory = _ => 600 };
        var cost = new Option<string?>("--cost") { Description = "Simulation step cost a,b,c,d in seconds (fixed, per prefill token, per decode, per context token) instead of calibrating" };
        var context = new Option<int>("--context") { Description = "Context per request of the started servers (0 = the model's, or what --kv-pages holds)" };
        var vocab = new Option<int>("--vocab-size") { Description = "Vocabulary of the --url server's model (token-id prompts must fit it)", DefaultValueFactory = _ => 32000 };
        var sampleMs = new Option<int>("--sample-ms") { Description = "How often service is sampled (ms)", DefaultValueFactory = _ => 100 };
        var json = new Option<string?>("--json") { Description = "Write every measure, per-client timelines included, to this JSON file" };
        var plots = new Option<string?>("--plots") { Description = "Write PNG charts into this folder" };

        var command = new Command("serve", "Fairness and throughput of the scheduling policies on shared-prefix workloads: live, simulated, or a load test")
        {
            url, model, threads, policies, quantum, kvPages, context, maxBatchTokens, maxQueue, workload, clients, rate, cv, duration, promptTokens,
            outputTokens, flood, floodFactor, floodPrefix, seed, simulate, loadTest, drainTimeout, cost, vocab, sampleMs, json, plots,
        };
        command.SetAction(parse =>
        {
            var options = new BenchServeOptions
            {
                Url = parse.GetValue(url), Model = parse.GetValue(model), Threads = parse.GetValue(threads),
                Policies = parse.GetValue(policies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.ToLowerInvariant()).ToArray(),
                Quantum = parse.GetValue(quantum), KvPages = parse.GetValue(kvPages), Context = parse.GetValue(context), MaxBatchTokens = parse.GetValue(maxBatchTokens),
                MaxQueue = parse.GetValue(maxQueue), Clients = ParseCounts(parse.GetValue(clients)!),
                Simulate = parse.GetValue(simulate), LoadTest = parse.GetValue(loadTest), DrainSeconds = parse.GetValue(drainTimeout), Cost = ParseCost(parse.GetValue(cost)),
                VocabularySize = parse.GetValue(vocab), SampleMilliseconds = parse.GetValue(sampleMs), Json = parse.GetValue(json), Plots = parse.GetValue(plots),
                Workload = new BenchWorkloadOptions
                {
                    Kind = parse.GetValue(workload)!, Rate = parse.GetValue(rate), Cv = parse.GetValue(cv), Seconds = parse.GetValue(duration),
                    PromptTokens = parse.GetValue(promptTokens), OutputTokens = parse.GetValue(outputTokens), FloodClient = parse.GetValue(flood),
                    FloodFactor = parse.GetValue(floodFactor), FloodPrefixTokens = parse.GetValue(floodPrefix), Seed = parse.GetValue(seed),
                },
            };
            options = options with { Workload = options.Workload with { Clients = options.Clients[0] } };
            if (options.Validate() is { } problem) throw new CliInputException(problem);
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output) });
            console.Profile.Width = Math.Max(console.Profile.Width, 160); // the policy table is wide; redirected output defaults to 80 columns
            return (options.Simulate ? SimulateAsync(options, console)
                : options.LoadTest ? LoadTestAsync(options, console)
                : LiveAsync(options, console)).GetAwaiter().GetResult();
        });
        return command;
    }

    private static int[] ParseCounts(string text)
    {
        try { return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); }
        catch (Exception e) when (e is FormatException or OverflowException) { throw new CliInputException($"--clients '{text}' is not a list of integers"); }
    }

    private static StepCostModel? ParseCost(string? text)
    {
        if (text == null) return null;
        var parts = text.Split(',');
        var values = new double[parts.Length];
        if (parts.Length != 4 || parts.Select((p, i) => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) && values[i] >= 0 && double.IsFinite(values[i])).Any(ok => !ok))
            throw new CliInputException($"--cost '{text}' must be four non-negative numbers a,b,c,d (seconds)");
        return new StepCostModel(values[0], values[1], values[2], values[3]);
    }

    // ------------------------------------------------------------------ live

    private static async Task<int> LiveAsync(BenchServeOptions options, IAnsiConsole console)
    {
        var runs = new List<object>();
        var reports = new List<PolicyReport>();
        var failures = new Dictionary<string, int>();
        string title = $"{options.Workload.Kind}, {options.Workload.Clients} clients{(options.Workload.FloodClient ? " + flood" : "")}, {options.Workload.Seconds:0.#} s";
        using var http = StreamingCompletionClient.CreateHttpClient();
        if (options.Url is { } url)
        {
            var workload = LiveWorkload(options, options.VocabularySize, contextLength: int.MaxValue);
            var address = new Uri(url);
            string policy = options.Policies.Count == 1 ? options.Policies[0] : "server";
            console.MarkupLine($"[bold]{Markup.Escape(url)}[/] ({policy}): {Markup.Escape(title)}, {workload.Requests.Length} requests");
            var run = await RunLiveAsync(new StreamingCompletionClient(http, address), new MetricsProbe(http, address), workload, options);
            reports.Add(LiveReplay.ToReport(run, policy, workload.Clients, options.Quantum, options.MaxBatchTokens));
            failures[policy] = run.Outcomes.Count(o => o.Outcome.Status == CompletionStatus.Failed);
        }
        else
        {
            using var llama = LoadModel(options);
            var tokenizer = Tokenizer.Create(GgufVocabulary.Read(llama.File));
            int context = llama.Config.ContextLength;
            var workload = LiveWorkload(options, llama.Config.VocabSize, context);
            string modelId = Path.GetFileNameWithoutExtension(llama.File.FileName);
            console.MarkupLine($"[bold]{Markup.Escape(modelId)}[/]: {Markup.Escape(title)}, {workload.Requests.Length} requests per policy");
            foreach (string policy in options.Policies)
            {
                BatchingServingEngine engine;
                try { engine = CreateEngine(llama, tokenizer, options, policy); }
                catch (ArgumentException e) { throw new CliInputException(e.Message); }
                await using var engineScope = engine;
                await using var app = SharpInferServer.Build(engine, new ServerOptions { ModelId = modelId, Host = "127.0.0.1", Port = 0, MinimumLogLevel = LogLevel.Error });
                await app.StartAsync();
                var address = SharpInferServer.ListeningAddress(app);
                var run = await RunLiveAsync(new StreamingCompletionClient(http, address), new EngineProbe(engine), workload, options);
                await app.StopAsync();
                var report = LiveReplay.ToReport(run, policy, workload.Clients, options.Quantum, options.MaxBatchTokens);
                failures[policy] = run.Outcomes.Count(o => o.Outcome.Status == CompletionStatus.Failed);
                console.MarkupLine($"  {policy}: {report.RequestsPerSecond:F2} req/s, {report.TokensPerSecond:F0} tok/s, Jain {report.Jain:F3}, max difference {report.MaxServiceDifference:F0} (bound {report.Bound:F0})");
                reports.Add(report);
            }
        }
        PrintTable(console, title, reports);
        var plotFiles = options.Plots is { } dir ? ServeBenchPlots.Write(dir, "", title, reports) : [];
        runs.Add(new { clients = options.Workload.Clients, policies = reports, failedRequests = failures });
        WriteJson(options, new { mode = options.Url != null ? "live-remote" : "live", model = options.Model, url = options.Url, workload = options.Workload, quantum = options.Quantum, runs, plots = plotFiles });
        foreach (var (policy, count) in failures.Where(f => f.Value > 0))
            console.MarkupLine($"[yellow]{policy}: {count} requests failed[/]");
        return CliRunner.Ok;
    }

    private sealed record LiveWorkloadSet(LiveRequest[] Requests, string[] Clients);

    private static LiveWorkloadSet LiveWorkload(BenchServeOptions options, int vocabularySize, int contextLength)
    {
        if (options.Workload.PromptTokens + options.Workload.OutputTokens >= contextLength)
            throw new CliInputException($"--prompt-tokens {options.Workload.PromptTokens} + --output-tokens {options.Workload.OutputTokens} must stay below the model's context of {contextLength}");
        var requests = BenchWorkloads.ForVocabulary(BenchWorkloads.Build(options.Workload), vocabularySize);
        var clients = requests.Select(r => r.ClientId).Distinct().Order(StringComparer.Ordinal).ToArray();
        return new LiveWorkloadSet(LiveReplay.FromWorkload(requests), clients);
    }

    private static Task<LiveRunResult> RunLiveAsync(StreamingCompletionClient client, IServerProbe probe, LiveWorkloadSet workload, BenchServeOptions options) =>
        LiveReplay.RunAsync(client, probe, workload.Requests, options.Workload.Seconds, TimeSpan.FromMilliseconds(options.SampleMilliseconds));

    private static LlamaModel LoadModel(BenchServeOptions options)
    {
        string path = ModelOptions.Resolve(options.Model);
        var file = GgufFile.Open(path);
        // The engine's step budget cannot exceed what one forward holds: size the model's buffers for it.
        try { return new LlamaModel(file, options.Threads, Math.Max(128, options.MaxBatchTokens), ownsFile: true); }
        catch { file.Dispose(); throw; }
    }

    private static BatchingServingEngine CreateEngine(LlamaModel llama, ITokenizer tokenizer, BenchServeOptions options, string policy) =>
        new(llama, tokenizer, new BatchingOptions
        {
            Policy = policy, Quantum = options.Quantum, KvPages = options.KvPages, MaxBatchTokens = options.MaxBatchTokens, MaxQueue = options.MaxQueue,
            MaxRunning = Math.Min(64, options.MaxBatchTokens - 3),
            // A small pool (cache-pressure studies) must still hold one whole context.
            ContextLength = options.Context > 0 ? options.Context
                : options.KvPages > 0 ? Math.Min(llama.Config.ContextLength, options.KvPages * 16) : 0,
        });

    // ------------------------------------------------------------------ simulation

    private static async Task<int> SimulateAsync(BenchServeOptions options, IAnsiConsole console)
    {
        StepCostModel costModel;
        IReadOnlyList<StepTiming>? timings = null;
        if (options.Cost is { } given) costModel = given;
        else if (options.Model != null)
        {
            using var llama = LoadModel(options);
            console.MarkupLine($"calibrating the step cost on [bold]{Markup.Escape(Path.GetFileName(llama.File.FileName))}[/] ...");
            costModel = StepCostModel.Calibrate(llama, out timings);
            var table = new Table().AddColumns("prefill tokens", "decodes", "context tokens", "measured ms", "fitted ms");
            foreach (var t in timings)
                table.AddRow(I(t.PrefillTokens), I(t.DecodeTokens), I(t.ContextTokens), F(t.Seconds * 1e3, 2), F(costModel.StepSeconds(t.PrefillTokens, t.DecodeTokens, t.ContextTokens) * 1e3, 2));
            console.Write(table);
        }
        else throw new CliInputException("--simulate needs --model (to calibrate the step cost) or --cost a,b,c,d");
        console.MarkupLine($"step cost: {Markup.Escape(costModel.ToString())}");

        int batch = Math.Min(64, options.MaxBatchTokens / 2);
        var simulator = new SimulatorOptions { TotalPages = options.KvPages > 0 ? options.KvPages : 4096, MaxBatchSize = Math.Max(1, batch), TokenBudget = options.MaxBatchTokens, Cost = costModel };
        var runs = new List<object>();
        var plotFiles = new List<string>();
        foreach (int clientCount in options.Clients)
        {
            var workloadOptions = options.Workload with { Clients = clientCount };
            var workload = BenchWorkloads.Build(workloadOptions);
            string title = $"simulated {workloadOptions.Kind}, {clientCount} clients{(workloadOptions.FloodClient ? " + flood" : "")}, {workloadOptions.Seconds:0.#} s";
            var reports = new List<PolicyReport>();
            foreach (string policy in options.Policies)
            {
                SimulationResult result;
                try { result = new ServingSimulator(SchedulingPolicies.Create(policy, options.Quantum), simulator).Run(workload); }
                catch (ArgumentException e) { throw new CliInputException(e.Message); }
                reports.Add(ServeBenchReports.FromSimulation(result, workloadOptions.Seconds, options.Quantum, options.MaxBatchTokens));
            }
            PrintTable(console, title, reports);
            if (options.Plots is { } dir) plotFiles.AddRange(ServeBenchPlots.Write(dir, $"sim-{clientCount}clients-", title, reports));
            runs.Add(new { clients = clientCount, requests = workload.Count, policies = reports });
        }
        var cost = new { fixedSeconds = costModel.FixedSeconds, secondsPerPrefillToken = costModel.SecondsPerPrefillToken, secondsPerDecodeToken = costModel.SecondsPerDecodeToken, secondsPerContextToken = costModel.SecondsPerContextToken };
        WriteJson(options, new { mode = "simulate", model = options.Model, workload = options.Workload, quantum = options.Quantum, costModel = cost, calibration = timings, simulator, runs, plots = plotFiles });
        await Task.CompletedTask;
        return CliRunner.Ok;
    }

    // ------------------------------------------------------------------ load test

    private static async Task<int> LoadTestAsync(BenchServeOptions options, IAnsiConsole console)
    {
        var loadOptions = new LoadTestOptions
        {
            Clients = options.Clients[0], Seconds = options.Workload.Seconds, PromptTokens = options.Workload.PromptTokens,
            OutputTokens = options.Workload.OutputTokens, VocabularySize = options.VocabularySize, Seed = options.Workload.Seed,
            DrainTimeout = TimeSpan.FromSeconds(options.DrainSeconds),
        };
        using var http = StreamingCompletionClient.CreateHttpClient();
        LoadTestResult result;
        string target;
        if (options.Url is { } url)
        {
            target = url;
            var address = new Uri(url);
            result = await LoadTest.RunAsync(new StreamingCompletionClient(http, address), new MetricsProbe(http, address), loadOptions);
        }
        else
        {
            using var llama = LoadModel(options);
            var tokenizer = Tokenizer.Create(GgufVocabulary.Read(llama.File));
            if (loadOptions.PromptTokens + loadOptions.OutputTokens >= llama.Config.ContextLength)
                throw new CliInputException($"--prompt-tokens {loadOptions.PromptTokens} + --output-tokens {loadOptions.OutputTokens} must stay below the model's context of {llama.Config.ContextLength}");
            string policy = options.Policies[0];
            target = $"{Path.GetFileNameWithoutExtension(llama.File.FileName)} in-process ({policy})";
            BatchingServingEngine engine;
            try { engine = CreateEngine(llama, tokenizer, options, policy); }
            catch (ArgumentException e) { throw new CliInputException(e.Message); }
            await using var engineScope = engine;
            await using var app = SharpInferServer.Build(engine, new ServerOptions { ModelId = "bench", Host = "127.0.0.1", Port = 0, MinimumLogLevel = LogLevel.Error });
            await app.StartAsync();
            var address = SharpInferServer.ListeningAddress(app);
            try
            {
                // Ctrl+C or SIGTERM reaches the started server's host, which stops the run too.
                result = await LoadTest.RunAsync(new StreamingCompletionClient(http, address), new MetricsProbe(http, address),
                    loadOptions with { VocabularySize = llama.Config.VocabSize }, LoadTest.CurrentProcessMemory, app.Lifetime.ApplicationStopping);
            }
            catch (OperationCanceledException) when (app.Lifetime.ApplicationStopping.IsCancellationRequested)
            {
                console.MarkupLine("[yellow]load test stopped[/] (Ctrl+C or SIGTERM): no result");
                await app.StopAsync();
                return LoadTestStopped;
            }
            await app.StopAsync();
        }
        var table = new Table().AddColumns("measure", "value");
        table.AddRow("clients", I(result.Clients));
        table.AddRow("seconds", F(result.Seconds, 1));
        table.AddRow("requests completed", I(result.Completed));
        table.AddRow("requests failed", result.Failed == 0 ? "0" : $"[red]{result.Failed}[/]");
        table.AddRow("429 (retried)", I(result.Rejected));
        table.AddRow("tokens/s (prompt + output)", F(result.TokensPerSecond, 1));
        table.AddRow("output tokens/s", F(result.OutputTokensPerSecond, 1));
        table.AddRow("TTFT P50 / P99 (s)", $"{F(result.TtftP50, 3)} / {F(result.TtftP99, 3)}");
        if (result.PeakMemory is { } peak) table.AddRow("peak working set / GC heap (MiB)", $"{F(peak.WorkingSet / 1048576.0, 0)} / {F(peak.GcHeap / 1048576.0, 0)}");
        if (result.EndMemory is { } end) table.AddRow("end working set / GC heap (MiB)", $"{F(end.WorkingSet / 1048576.0, 0)} / {F(end.GcHeap / 1048576.0, 0)}");
        table.AddRow("KV pages used when idle", result.KvPagesUsedAtEnd == 0 ? "0" : $"[red]{result.KvPagesUsedAtEnd}[/]");
        console.MarkupLine($"[bold]load test[/] of {Markup.Escape(target)}");
        console.Write(table);
        foreach (var failure in result.FailureExamples) console.MarkupLine($"[red]failed:[/] {Markup.Escape(failure)}");
        WriteJson(options, new { mode = "load-test", target, result, passed = result.Passed });
        console.MarkupLine(result.Passed ? "[green]passed[/]: no failed requests, every KV page back" : "[red]failed[/]");
        return result.Passed ? CliRunner.Ok : LoadTestFailed;
    }

    // ------------------------------------------------------------------ output

    private static void PrintTable(IAnsiConsole console, string title, IReadOnlyList<PolicyReport> reports)
    {
        var clients = reports.SelectMany(r => r.Clients.Select(c => c.Client)).Distinct().ToList();
        bool perClient = clients.Count <= 6;
        var table = new Table { Title = new TableTitle(Markup.Escape(title)) };
        table.AddColumns("policy", "tok/s", "req/s", "Jain", "max diff", "bound", "within", "hit rate");
        if (perClient) foreach (var c in clients) table.AddColumn($"P99 TTFT {Markup.Escape(c)} (s)");
        else table.AddColumns("P99 TTFT worst client (s)", "P99 TTFT median client (s)");
        foreach (var r in reports)
        {
            string within = r.WithinBound ? "yes" : r.BoundPromised ? "[red]no[/]" : "no";
            var cells = new List<string> { r.Policy, F(r.TokensPerSecond, 1), F(r.RequestsPerSecond, 2), F(r.Jain, 3), F(r.MaxServiceDifference, 0), $"{F(r.Bound, 0)}{(r.BoundPromised ? "" : "*")}", within, F(r.PrefixCacheHitRate * 100, 1) + "%" };
            if (perClient) cells.AddRange(clients.Select(c => r.Clients.FirstOrDefault(x => x.Client == c) is { } x ? F(x.TtftP99, 2) : "-"));
            else
            {
                var p99 = r.Clients.Select(c => c.TtftP99).ToList();
                cells.Add(F(p99.DefaultIfEmpty().Max(), 2));
                cells.Add(F(FairnessMath.Percentile(p99, 50), 2));
            }
            table.AddRow(cells.ToArray());
        }
        table.Caption("bound: 2U for vtc, 2(Q_u+U) for dlpm; * = not promised by the policy, shown as 2U. U = max(w_p x longest prompt, w_q x most tokens in the batch)");
        console.Write(table);
    }

    private static void WriteJson(BenchServeOptions options, object document)
    {
        if (options.Json is not { } path) return;
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir != null) Directory.CreateDirectory(dir);
            File.WriteAllText(path, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"cannot write '{path}': {e.Message}");
        }
    }

    private static string I(long value) => value.ToString(CultureInfo.InvariantCulture);
    private static string F(double value, int digits) => value.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
