using System.Diagnostics;
using SharpInfer.Engine.Simulation;

namespace SharpInfer.Server.Benchmarking;

/// <summary>A request to send at <see cref="Arrival"/> seconds after the start.</summary>
public sealed record LiveRequest(string Client, int[] Prompt, int MaxTokens, double Arrival);

/// <summary>What a replay saw: each request's outcome and the server's counters sampled over time.</summary>
public sealed record LiveRunResult(IReadOnlyList<(LiveRequest Request, CompletionOutcome Outcome)> Outcomes, IReadOnlyList<ServerSample> Samples, double Seconds);

/// <summary>
/// Open-loop replay of a workload against a live server: every request is sent at its arrival time whatever the
/// server is doing (as users would), the server's counters are sampled every interval, and at the end of the window
/// requests still running are cancelled (the server frees their KV), so every policy is measured over the same time.
/// </summary>
public static class LiveReplay
{
    public static LiveRequest[] FromWorkload(IEnumerable<SimRequest> workload) =>
        workload.Select(r => new LiveRequest(r.ClientId, r.Prompt, r.OutputLength, r.Arrival)).ToArray();

    public static async Task<LiveRunResult> RunAsync(StreamingCompletionClient client, IServerProbe probe, IReadOnlyList<LiveRequest> requests,
        double seconds, TimeSpan sampleInterval, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var samples = new List<ServerSample> { await probe.SampleAsync(0, cancellation) };
        using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var stopSampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(sampleInterval);
            try
            {
                while (await timer.WaitForNextTickAsync(stopSampling.Token))
                    samples.Add(await probe.SampleAsync(clock.Elapsed.TotalSeconds, stopSampling.Token));
            }
            catch (OperationCanceledException) when (stopSampling.IsCancellationRequested) { }
        }, CancellationToken.None);

        var running = new List<Task<(LiveRequest, CompletionOutcome)>>(requests.Count);
        foreach (var request in requests.OrderBy(r => r.Arrival))
        {
            if (request.Arrival >= seconds) break;
            var wait = TimeSpan.FromSeconds(request.Arrival) - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellation);
            running.Add(Send(request));
        }
        var remaining = TimeSpan.FromSeconds(seconds) - clock.Elapsed;
        if (remaining > TimeSpan.Zero) await Task.Delay(remaining, cancellation);
        await window.CancelAsync();
        var outcomes = await Task.WhenAll(running);
        await stopSampling.CancelAsync();
        await sampler;
        samples.Add(await probe.SampleAsync(clock.Elapsed.TotalSeconds, cancellation));
        return new LiveRunResult(outcomes, samples, seconds);

        async Task<(LiveRequest, CompletionOutcome)> Send(LiveRequest request)
        {
            await Task.Yield();
            return (request, await client.SendAsync(request.Client, request.Prompt, request.MaxTokens, clock, window.Token));
        }
    }

    /// <summary>
    /// The run as a policy report. Service counts from the first sample (a remote server may have served before);
    /// a request that never got its first token in the window counts with the time it waited (a lower bound on its
    /// TTFT), so a starved client shows as such instead of vanishing from the percentiles.
    /// </summary>
    /// <param name="stepTokenBudget">The server's tokens per engine step: U's "most tokens in a batch" (see ServeBenchReports).</param>
    public static PolicyReport ToReport(LiveRunResult run, string policy, IReadOnlyList<string> clients, double quantum, long stepTokenBudget,
        double promptWeight = 1, double outputWeight = 2)
    {
        var baseline = run.Samples[0];
        var times = new List<double>();
        var service = new List<double[]>();
        var backlogged = new List<bool[]>();
        long peakKvTokens = 0;
        foreach (var sample in run.Samples)
        {
            times.Add(sample.Time);
            service.Add(clients.Select(c =>
            {
                var now = sample.Clients.GetValueOrDefault(c);
                var before = baseline.Clients.GetValueOrDefault(c);
                return promptWeight * (now.ComputedPromptTokens - before.ComputedPromptTokens) + outputWeight * (now.GeneratedTokens - before.GeneratedTokens);
            }).ToArray());
            backlogged.Add(clients.Select(c => sample.Clients.GetValueOrDefault(c).Waiting > 0).ToArray());
            peakKvTokens = Math.Max(peakKvTokens, (long)sample.KvPagesUsed * Math.Max(1, sample.PageSize));
        }
        var end = run.Samples[^1];
        long prompt = end.PromptTokens - baseline.PromptTokens, hits = end.PrefixCacheHitTokens - baseline.PrefixCacheHitTokens;
        var requests = run.Outcomes.Where(o => o.Outcome.Status != CompletionStatus.Failed).Select(o =>
        {
            var outcome = o.Outcome;
            double? ttft = outcome.TimeToFirstToken ?? (outcome.Status == CompletionStatus.Cancelled ? run.Seconds - outcome.Sent : null);
            return new RequestSummary(o.Request.Client, outcome.Status == CompletionStatus.Completed, ttft, o.Request.Prompt.Length, outcome.OutputTokens);
        }).ToList();
        return ServeBenchReports.Build(new ServeBenchReports.Inputs
        {
            Policy = policy, Clients = clients, Seconds = run.Seconds, Times = times, Service = service, Backlogged = backlogged,
            Requests = requests, MaxBatchTokens = stepTokenBudget, PeakKvTokens = peakKvTokens, PrefixCacheHitRate = prompt == 0 ? 0 : (double)hits / prompt,
            Quantum = quantum, PromptWeight = promptWeight, OutputWeight = outputWeight,
        });
    }
}
