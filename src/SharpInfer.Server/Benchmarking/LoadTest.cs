using System.Collections.Concurrent;
using System.Diagnostics;
using SharpInfer.Engine.Simulation;

namespace SharpInfer.Server.Benchmarking;

public sealed record LoadTestOptions
{
    public int Clients { get; init; } = 200;
    public double Seconds { get; init; } = 60;
    public int PromptTokens { get; init; } = 64;
    public int OutputTokens { get; init; } = 16;
    public int VocabularySize { get; init; } = 32000;
    public int Seed { get; init; } = 1;
    /// <summary>
    /// How long requests in flight at the end may take to finish before they count as failed: by default as long as
    /// the OpenAI Python and Node clients wait for a response (10 minutes). Closed-loop clients keep one request each
    /// in flight, and an overloaded server queues them (200 clients of 256-token prompts on two cores: ~60 s to the
    /// first token), so a short patience would cut requests the server is serving correctly.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>How long the server may take to give back its KV pages once idle.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan SampleInterval { get; init; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>Process memory at one moment: working set and managed heap, in bytes.</summary>
public readonly record struct MemorySample(long WorkingSet, long GcHeap);

public sealed record LoadTestResult
{
    public required int Clients { get; init; }
    public required double Seconds { get; init; }
    public required int Completed { get; init; }
    /// <summary>Requests that failed: anything but a completed stream or a designed 429.</summary>
    public required int Failed { get; init; }
    public required int Rejected { get; init; }
    public required double TokensPerSecond { get; init; }
    public required double OutputTokensPerSecond { get; init; }
    public required double TtftP50 { get; init; }
    public required double TtftP99 { get; init; }
    /// <summary>KV pages in use once the server is idle again (the prefix cache's evictable pages excluded): must be 0.</summary>
    public required int KvPagesUsedAtEnd { get; init; }
    public MemorySample? PeakMemory { get; init; }
    public MemorySample? EndMemory { get; init; }
    public required IReadOnlyList<string> FailureExamples { get; init; }
    public bool Passed => Failed == 0 && KvPagesUsedAtEnd == 0;
}

/// <summary>
/// N closed-loop streaming clients for a while: each sends a request, waits for its stream to end, and sends the
/// next; a 429 is retried after its Retry-After. Then the server must go idle with every KV page given back.
/// Each client's prompts share a prefix of its own, so the prefix cache and its locks are exercised too.
/// </summary>
public static class LoadTest
{
    public static async Task<LoadTestResult> RunAsync(StreamingCompletionClient client, IServerProbe probe, LoadTestOptions options,
        Func<MemorySample>? memory = null, CancellationToken cancellation = default)
    {
        await probe.SampleAsync(0, cancellation); // a server that cannot be reached fails here, before any client starts
        var clock = Stopwatch.StartNew();
        var outcomes = new ConcurrentBag<(int Prompt, CompletionOutcome Outcome)>();
        var failures = new ConcurrentQueue<string>();
        int rejected = 0;
        MemorySample peak = default;
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var stopSampling = new CancellationTokenSource();
        var sampler = memory == null ? Task.CompletedTask : Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(options.SampleInterval);
            try
            {
                while (await timer.WaitForNextTickAsync(stopSampling.Token))
                {
                    var m = memory();
                    peak = new MemorySample(Math.Max(peak.WorkingSet, m.WorkingSet), Math.Max(peak.GcHeap, m.GcHeap));
                }
            }
            catch (OperationCanceledException) when (stopSampling.IsCancellationRequested) { }
        }, CancellationToken.None);

        int low = Math.Min(256, options.VocabularySize / 8), span = options.VocabularySize - low;
        int prefixLength = options.PromptTokens * 3 / 4;
        var loops = Enumerable.Range(0, options.Clients).Select(i => Task.Run(async () =>
        {
            var random = new Random(options.Seed * 100_003 + i);
            var prefix = Enumerable.Range(0, prefixLength).Select(_ => low + random.Next(span)).ToArray();
            string name = $"load{i}";
            while (!stopSending.IsCancellationRequested)
            {
                int[] prompt = [.. prefix, .. Enumerable.Range(0, options.PromptTokens - prefixLength).Select(_ => low + random.Next(span))];
                while (true)
                {
                    var outcome = await client.SendAsync(name, prompt, options.OutputTokens, clock, abandon.Token);
                    if (outcome.Status == CompletionStatus.Rejected)
                    {
                        Interlocked.Increment(ref rejected);
                        try { await Task.Delay(outcome.RetryAfter ?? TimeSpan.FromSeconds(1), stopSending.Token); }
                        catch (OperationCanceledException) { break; }
                        continue;
                    }
                    outcomes.Add((prompt.Length, outcome));
                    if (outcome.Status != CompletionStatus.Completed && failures.Count < 10)
                        failures.Enqueue(outcome.Error ?? $"request {outcome.Status.ToString().ToLowerInvariant()} (did not finish within the drain timeout)");
                    break;
                }
            }
        }, CancellationToken.None)).ToArray();

        var all = Task.WhenAll(loops);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(options.Seconds), cancellation);
            await stopSending.CancelAsync();
            // Requests in flight finish normally; only ones that outlast the drain timeout are cut (and count as failed).
            using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            if (await Task.WhenAny(all, Task.Delay(options.DrainTimeout, drain.Token)) != all) await abandon.CancelAsync();
            await drain.CancelAsync(); // the drain clock is not left running
            await all;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Stopped from outside (Ctrl+C, SIGTERM): the clients' requests are cancelled with the same token.
            await stopSampling.CancelAsync();
            try { await Task.WhenAll(all, sampler); } catch (OperationCanceledException) { }
            throw;
        }
        double elapsed = clock.Elapsed.TotalSeconds;

        // Idle now: every page but the prefix cache's evictable ones must come back.
        var idleClock = Stopwatch.StartNew();
        var sample = await probe.SampleAsync(clock.Elapsed.TotalSeconds, cancellation);
        while (sample.KvPagesUsed != 0 && idleClock.Elapsed < options.IdleTimeout)
        {
            await Task.Delay(100, cancellation);
            sample = await probe.SampleAsync(clock.Elapsed.TotalSeconds, cancellation);
        }
        MemorySample? end = memory?.Invoke();
        await stopSampling.CancelAsync();
        await sampler;

        var done = outcomes.Where(o => o.Outcome.Status == CompletionStatus.Completed).ToList();
        var ttfts = done.Where(o => o.Outcome.TimeToFirstToken.HasValue).Select(o => o.Outcome.TimeToFirstToken!.Value).ToList();
        return new LoadTestResult
        {
            Clients = options.Clients,
            Seconds = elapsed,
            Completed = done.Count,
            Failed = outcomes.Count(o => o.Outcome.Status != CompletionStatus.Completed),
            Rejected = rejected,
            TokensPerSecond = done.Sum(o => (double)o.Prompt + o.Outcome.OutputTokens) / elapsed,
            OutputTokensPerSecond = done.Sum(o => (double)o.Outcome.OutputTokens) / elapsed,
            TtftP50 = FairnessMath.Percentile(ttfts, 50),
            TtftP99 = FairnessMath.Percentile(ttfts, 99),
            KvPagesUsedAtEnd = sample.KvPagesUsed,
            PeakMemory = memory == null ? null : peak,
            EndMemory = end,
            FailureExamples = [.. failures],
        };
    }

    /// <summary>This process's memory (for a server running in-process).</summary>
    public static MemorySample CurrentProcessMemory()
    {
        using var process = Process.GetCurrentProcess();
        return new MemorySample(process.WorkingSet64, GC.GetGCMemoryInfo().HeapSizeBytes);
    }
}
