using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Sampling;
using SharpInfer.Engine.Serving;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;

namespace SharpInfer.Engine.Tests.Serving;

/// <summary>The continuous-batching engine on the real stories260K model.</summary>
public class BatchingServingEngineTests
{
    private static (LlamaModel Model, ITokenizer Tokenizer)? Load(int threads = 2)
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return null;
        var model = LlamaModel.Load(path, threads);
        return (model, Tokenizer.Create(GgufVocabulary.Read(model.File)));
    }

    /// <summary>Varied prompts of different lengths from the TinyStories text.</summary>
    private static List<string> Prompts(int count)
    {
        string? data = TestEnvironment.SharedFile("data", "tinystories-valid-part1.txt");
        var sentences = data == null
            ? Enumerable.Range(0, count).Select(i => $"Once upon a time there was a child number {i} who liked to play.").ToList()
            : File.ReadLines(data).Where(l => l.Length > 40).Take(count * 3).ToList();
        var rng = new Random(5);
        return Enumerable.Range(0, count).Select(i => string.Join(" ", sentences.Skip(i * 2).Take(1 + rng.Next(3)))).Select(s => s.Length > 600 ? s[..600] : s).ToList();
    }

    private static async Task<(List<int> Tokens, GenerationStats Stats)> Collect(IServingEngine engine, ServingRequest request, CancellationToken cancel = default)
    {
        var tokens = new List<int>();
        GenerationStats? stats = null;
        await foreach (var u in engine.GenerateAsync(request, cancel))
        {
            if (u.Token is int t) tokens.Add(t);
            stats = u.Final ?? stats;
        }
        return (tokens, stats!);
    }

    private static GenerationOptions Greedy(int maxTokens) => new() { MaxTokens = maxTokens, Sampling = SamplingParameters.Greedy };

    [Fact]
    public async Task ConcurrentGreedyOutputsEqualOneAtATimeOutputs()
    {
        if (Load() is not var (model, tokenizer)) return;
        using var _ = model;
        var prompts = Prompts(32).Select(p => tokenizer.Encode(p)).ToList();
        // One at a time, through the same engine (each request alone in its batch).
        var sequential = new List<List<int>>();
        await using (var engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxBatchTokens = 128, ContextLength = 512, KvPages = 512, PrefixCache = false }))
            foreach (var p in prompts)
                sequential.Add((await Collect(engine, new ServingRequest { PromptTokens = p, Options = Greedy(40) })).Tokens);
        // And through the single-stream generator: the same tokens.
        using (var generator = new TextGenerator(model, tokenizer, 512))
            for (int i = 0; i < 4; i++)
            {
                var ids = generator.Generate(prompts[i], Greedy(40)).Where(u => u.Token != null).Select(u => u.Token!.Value).ToList();
                Assert.Equal(ids, sequential[i]);
            }
        // All 32 at once, with a small step budget so prompts are chunked next to other requests' decodes.
        foreach (int budget in new[] { 128, 37 })
        {
            await using var engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxBatchTokens = budget, MaxRunning = 32, ContextLength = 512, KvPages = 512 });
            var results = await Task.WhenAll(prompts.Select(p => Collect(engine, new ServingRequest { PromptTokens = p, Options = Greedy(40) })));
            for (int i = 0; i < prompts.Count; i++)
                Assert.True(sequential[i].SequenceEqual(results[i].Tokens), $"budget {budget}, request {i}: concurrent output differs from the one-at-a-time output");
            var snapshot = engine.Snapshot();
            Assert.Equal(0, snapshot.Running);
            Assert.Equal(0, snapshot.KvPagesUsed);
            Assert.True(snapshot.Steps < 32 * 41, $"{snapshot.Steps} steps: requests were not batched");
        }
    }

    [Fact]
    public async Task ARepeatedPrefixIsServedFromTheCache()
    {
        if (Load() is not var (model, tokenizer)) return;
        using var _ = model;
        await using var engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxBatchTokens = 128, ContextLength = 512, KvPages = 256 });
        var prefix = tokenizer.Encode(string.Join(" ", Prompts(6))).Take(200).ToList();
        var first = await Collect(engine, new ServingRequest { PromptTokens = [.. prefix, 403], Options = Greedy(8) });
        var before = engine.Snapshot();
        var second = await Collect(engine, new ServingRequest { PromptTokens = [.. prefix, 407], Options = Greedy(8) });
        var after = engine.Snapshot();
        Assert.Equal(0, before.PrefixCacheHitTokens);
        Assert.True(after.PrefixCacheHitTokens >= 192, $"hit {after.PrefixCacheHitTokens} tokens of a 200-token shared prefix");
        Assert.True(after.KvPagesCached > 0);
        Assert.Equal(0, after.KvPagesUsed); // cached pages are reclaimable once nothing runs
        // The same prompt again gives the same output from cached KV.
        var again = await Collect(engine, new ServingRequest { PromptTokens = [.. prefix, 403], Options = Greedy(8) });
        Assert.Equal(first.Tokens, again.Tokens);
        Assert.Equal(8, second.Tokens.Count);
    }

    [Fact]
    public async Task CancellingARequestFreesItsPagesAtOnce()
    {
        if (Load() is not var (model, tokenizer)) return;
        using var _ = model;
        await using var engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxBatchTokens = 64, MaxRunning = 16, ContextLength = 512, KvPages = 64, PrefixCache = false });
        using var cancel = new CancellationTokenSource();
        int received = 0;
        var request = new ServingRequest { PromptTokens = tokenizer.Encode("Once upon a time"), Options = new GenerationOptions { MaxTokens = 400, Sampling = new SamplingParameters { Temperature = 1, Seed = 1 } } };
        FinishReason? reason = null;
        await foreach (var u in engine.GenerateAsync(request, cancel.Token))
        {
            if (u.Token != null && ++received == 3) cancel.Cancel();
            reason = u.Final?.FinishReason ?? reason;
        }
        Assert.Equal(FinishReason.Cancelled, reason);
        for (int i = 0; i < 100 && engine.Snapshot().Running > 0; i++) await Task.Delay(10);
        var snapshot = engine.Snapshot();
        Assert.Equal(0, snapshot.Running);
        Assert.Equal(0, snapshot.KvPagesUsed);
        Assert.True(received < 400);
    }

    [Fact]
    public async Task CancellingAWaitingRequestReturnsAtOnce()
    {
        if (Load(threads: 1) is not var (model, tokenizer)) return;
        using var _ = model;
        // One request at a time, four tokens a step: the first request's 480-token prompt alone takes 120 steps.
        await using var engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxBatchTokens = 4, ContextLength = 512, MaxRunning = 1, PrefixCache = false });
        var rng = new Random(1);
        var longPrompt = Enumerable.Range(0, 480).Select(_ => rng.Next(3, 512)).ToArray();
        var options = new GenerationOptions { MaxTokens = 30, Sampling = SamplingParameters.Greedy };
        var running = Collect(engine, new ServingRequest { PromptTokens = longPrompt, Options = options });
        using var cancel = new CancellationTokenSource();
        var waiting = Collect(engine, new ServingRequest { PromptTokens = tokenizer.Encode("Once upon a time"), Options = options }, cancel.Token);
        for (int i = 0; i < 500 && engine.Snapshot().Running == 0; i++) await Task.Delay(10); // the loop admits the first one
        Assert.False(running.IsCompleted, "the first request finished too soon for the test to mean anything");
        Assert.Equal(1, engine.Snapshot().Running);
        Assert.Equal(1, engine.Snapshot().Waiting);
        cancel.Cancel();
        var (tokens, stats) = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(running.IsCompleted, "the cancelled request waited for the running one");
        Assert.Equal(FinishReason.Cancelled, stats.FinishReason);
        Assert.Empty(tokens);
        Assert.Equal(0, engine.Snapshot().Waiting);
        await running;
    }

    [Fact]
    public async Task RunningOutOfPagesPreemptsAndEveryRequestStillFinishes()
    {
        if (Load() is not var (model, tokenizer)) return;
        using var _ = model;
        // 40 pages of 16 tokens for 8 requests that each grow to ~250 tokens: they cannot all hold their KV at once.
        await using var engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxBatchTokens = 128, ContextLength = 512, KvPages = 40 });
        var prompts = Prompts(8).Select(p => tokenizer.Encode(p)).ToList();
        var options = new GenerationOptions { MaxTokens = 200, Sampling = new SamplingParameters { Temperature = 0.9f, Seed = 7 }, Stop = [] };
        var results = await Task.WhenAll(prompts.Select(p => Collect(engine, new ServingRequest { PromptTokens = p, Options = options })));
        foreach (var (tokens, stats) in results)
        {
            Assert.True(stats.FinishReason is FinishReason.Length or FinishReason.Stop);
            Assert.InRange(stats.GeneratedTokens - tokens.Count, 0, 1); // an end-of-text token is counted, not streamed
            if (stats.FinishReason == FinishReason.Length) Assert.Equal(200, stats.GeneratedTokens);
        }
        var snapshot = engine.Snapshot();
        Assert.True(snapshot.Preemptions > 0, "the page pool was never exhausted: the test proves nothing");
        Assert.Equal(0, snapshot.KvPagesUsed);
        Assert.Equal(0, snapshot.Running);
    }

    [Fact]
    public async Task AFullQueueRefusesWithRetryAfter()
    {
        if (Load(threads: 1) is not var (model, tokenizer)) return;
        using var _ = model;
        await using var engine = new BatchingServingEngine(model, tokenizer, new BatchingOptions { MaxBatchTokens = 64, ContextLength = 512, MaxRunning = 1, MaxQueue = 2 });
        var slow = new GenerationOptions { MaxTokens = 450, Sampling = new SamplingParameters { Temperature = 1, Seed = 3 } };
        var prompt = tokenizer.Encode("Once upon a time");
        // Ten submissions in a tight loop: two fit the queue, the rest must be refused (each takes many steps).
        var attempts = Enumerable.Range(0, 10).Select(_ => Collect(engine, new ServingRequest { PromptTokens = prompt, Options = slow })).ToList();
        int refused = 0;
        foreach (var attempt in attempts)
        {
            try { await attempt; }
            catch (QueueFullException e) { refused++; Assert.True(e.RetryAfter > TimeSpan.Zero); }
        }
        Assert.InRange(refused, 7, 8); // two fit the queue (and one of them may already run, freeing a place)
    }
}
