using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Kv;
using SharpInfer.Engine.Sampling;
using SharpInfer.Engine.Scheduling;
using SharpInfer.Kernels.Attention;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Engine.Serving;

/// <summary>Settings of the continuous-batching engine.</summary>
public sealed record BatchingOptions
{
    /// <summary>Tokens one engine step may process (decode tokens plus prefill chunks): the chunked-prefill budget.</summary>
    public int MaxBatchTokens { get; init; } = 256;
    /// <summary>Requests running at once (each holds KV pages).</summary>
    public int MaxRunning { get; init; } = 64;
    /// <summary>Requests waiting beyond this are refused (<see cref="QueueFullException"/>).</summary>
    public int MaxQueue { get; init; } = 1024;
    /// <summary>KV pages of the pool; 0 = enough for MaxRunning full contexts, at most about 2 GiB.</summary>
    public int KvPages { get; init; }
    public int PageSize { get; init; } = 16;
    /// <summary>Context per request; 0 = the model's.</summary>
    public int ContextLength { get; init; }
    /// <summary>fcfs, lpm, vtc or dlpm.</summary>
    public string Policy { get; init; } = "dlpm";
    /// <summary>DLPM's quantum Q_u (service units added to a client's deficit per refill).</summary>
    public double Quantum { get; init; } = 4096;
    /// <summary>Service charged per computed prompt token (w_p) and per generated token (w_q).</summary>
    public double PromptTokenWeight { get; init; } = 1;
    public double OutputTokenWeight { get; init; } = 2;
    /// <summary>
    /// Decode tokens take the int8 matrix-vector path (fastest for one request) instead of the float GEMM (faster
    /// once a step carries many requests; on this project's 2-core reference machine from about 8). Q8_0/Q4_0 matrices
    /// that the loader interleaved take their integer kernels (VNNI or 16-bit) either way, and Q4_K matrices their integer kernels.
    /// Outputs are batch-invariant either way. Sets
    /// the model's <see cref="LlamaModel.DecodeWithMatrixVector"/>.
    /// </summary>
    public bool MatrixVectorDecode { get; init; }
    /// <summary>Keep finished requests' KV in the radix prefix cache.</summary>
    public bool PrefixCache { get; init; } = true;
}

/// <summary>
/// The serving engine: one loop thread runs engine steps over a paged KV pool shared by all requests (vLLM/SGLang
/// style continuous batching). Each step: running requests decode one token each, prompts are prefilled in chunks
/// under a token budget, and the scheduling policy admits waiting requests, their cached prefix taken from the radix
/// tree. When pages run out, unlocked cached prefixes are evicted, then the youngest running request is preempted
/// and later recomputed.
/// <para>
/// Batch invariance: decode tokens are placed first and prompts are never computed in a 1-token chunk, so decode
/// tokens always take the model's matrix-vector path and prompt tokens its GEMM path (see MatMul). A request's
/// tokens therefore get the same logits alone or in any batch, and greedy outputs match one-at-a-time runs. (KV
/// reused from the cache was computed by the same arithmetic, unless a prompt extends another request's generated
/// text.)
/// </para>
/// </summary>
public sealed class BatchingServingEngine : IServingEngine
{
    private sealed class Sequence
    {
        public required ServingRequest Request;
        public required ScheduledRequest Scheduled;
        public required Channel<GenerationUpdate> Output;
        public required Sampler Sampler;
        public required IncrementalDecoder Decoder;
        public required StopMatcher Stops;
        public required List<int> History;     // prompt + generated tokens
        public required int MaxTokens;
        public readonly List<int> Pages = [];  // KV pages of History[0..Computed), matched ones first
        public PrefixMatch? Match;             // locked cache path the first pages come from
        public int Computed;                   // tokens whose K/V are in the cache
        public int Generated;
        public int Chunk;                      // tokens this step
        public bool Running, Admitted, InBatch;
        public volatile bool Cancelled;
        public long ArrivalTicks, FirstTokenTicks;
        public CancellationTokenRegistration Registration;
        public int PendingTokens => History.Count - Computed;
    }

    private readonly LlamaModel _model;
    private readonly BatchingOptions _options;
    private readonly KvPagePool _pool;
    private readonly RadixCache _radix;
    private readonly ISchedulingPolicy _policy;
    private readonly ConcurrentQueue<Sequence> _arrivals = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly List<Sequence> _running = [];
    private readonly HashSet<Sequence> _queued = []; // waiting in the policy's queue (to reap cancelled ones)
    private readonly Thread _loop;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _stats = new();
    private readonly Dictionary<string, (long Prompt, long Generated, long Requests)> _clients = [];
    private readonly Dictionary<string, int> _clientWaiting = [];
    private readonly Matcher _matcher;
    private long _nextId, _promptTokens, _hitTokens, _generatedTokens, _steps, _preemptions;
    private int _waiting, _runningCount;
    private volatile bool _draining;
    private float[] _logits = [];
    // One step's batch and its model inputs, reused from step to step: a step allocates nothing once they have grown.
    // The two indptrs grow together (both n + 1), so they always have the same length, as PageTable.FitsQoIndptr wants.
    private readonly List<Sequence> _batch = [], _prompts = [];
    private int[] _qoIndptr = new int[1], _indptr = new int[1], _lastPageLength = [], _tokens = [], _indices = [];
    private Exception? _fault;

    public ITokenizer Tokenizer { get; }
    public int ContextLength { get; }
    public string PolicyName => _policy.Name;

    public BatchingServingEngine(LlamaModel model, ITokenizer tokenizer, BatchingOptions? options = null)
    {
        _model = model;
        Tokenizer = tokenizer;
        _options = options ??= new BatchingOptions();
        // Decodes take one token each; three more always remain for a prompt chunk (see PrefillChunk).
        if (options.MaxRunning < 1 || options.MaxBatchTokens < options.MaxRunning + 3)
            throw new ArgumentException($"MaxBatchTokens ({options.MaxBatchTokens}) must be at least MaxRunning ({options.MaxRunning}) + 3");
        if (options.MaxBatchTokens > model.MaxTokensPerForward)
            throw new ArgumentException($"MaxBatchTokens {options.MaxBatchTokens} exceeds the model's {model.MaxTokensPerForward} tokens per forward");
        ContextLength = options.ContextLength > 0 ? Math.Min(options.ContextLength, model.Config.ContextLength) : model.Config.ContextLength;
        int pagesPerContext = (ContextLength + options.PageSize - 1) / options.PageSize;
        long bytesPerPage = (long)model.Config.Layers * 2 * model.Config.KvHeads * model.Config.HeadDim * options.PageSize * sizeof(float);
        int pages = options.KvPages > 0 ? options.KvPages
            : (int)Math.Max(pagesPerContext + 1, Math.Min((long)pagesPerContext * options.MaxRunning, (2L << 30) / bytesPerPage));
        if (pages < pagesPerContext) throw new ArgumentException($"{pages} KV pages cannot hold one context of {ContextLength} tokens ({pagesPerContext} pages)");
        _pool = new KvPagePool(model.CreateKvCache(pages, options.PageSize));
        _radix = new RadixCache(_pool.Allocator, options.PageSize);
        _policy = SchedulingPolicies.Create(options.Policy, options.Quantum, options.PromptTokenWeight, options.OutputTokenWeight);
        _matcher = new Matcher(this);
        model.DecodeWithMatrixVector = options.MatrixVectorDecode;
        _loop = new Thread(Loop) { IsBackground = true, Name = "sharpinfer-engine" };
        _loop.Start();
    }

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(ServingRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        if (_fault != null) throw new InvalidOperationException("the engine stopped after an error: " + _fault.Message, _fault);
        if (_draining) throw new QueueFullException(0, TimeSpan.FromSeconds(5));
        if (request.PromptTokens.Count == 0) throw new ArgumentException("the prompt has no tokens");
        if (request.PromptTokens.Count >= ContextLength) throw new PromptTooLongException(request.PromptTokens.Count, ContextLength);
        if (request.Options.Sampling.Validate() is { } problem) throw new ArgumentException(problem);
        if (Interlocked.Increment(ref _waiting) > _options.MaxQueue)
        {
            Interlocked.Decrement(ref _waiting);
            throw new QueueFullException(_options.MaxQueue, TimeSpan.FromSeconds(1));
        }
        CountClientWaiting(request.ClientId, +1);
        var decoder = new IncrementalDecoder(Tokenizer);
        foreach (int t in request.PromptTokens) decoder.Push(t); // the continuation's leading space is real (see TextGenerator)
        var sequence = new Sequence
        {
            Request = request,
            Scheduled = new ScheduledRequest { Id = Interlocked.Increment(ref _nextId), ClientId = request.ClientId, ClientWeight = request.ClientWeight, Tokens = [.. request.PromptTokens], Arrival = Stopwatch.GetTimestamp() },
            Output = Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true }),
            Sampler = new Sampler(request.Options.Sampling),
            Decoder = decoder,
            Stops = new StopMatcher(request.Options.Stop),
            History = new List<int>(request.PromptTokens.Count + Math.Min(request.Options.MaxTokens, 4096)),
            MaxTokens = Math.Min(request.Options.MaxTokens, ContextLength - request.PromptTokens.Count),
            ArrivalTicks = Stopwatch.GetTimestamp(),
        };
        sequence.Scheduled.EngineState = sequence;
        sequence.History.AddRange(request.PromptTokens);
        sequence.Registration = cancellation.Register(static s => { ((Sequence)s!).Cancelled = true; }, sequence);
        _arrivals.Enqueue(sequence);
        _wake.Release();
        bool finished = false;
        try
        {
            await foreach (var update in sequence.Output.Reader.ReadAllAsync(CancellationToken.None))
            {
                if (update.Final != null) finished = true;
                yield return update;
            }
        }
        finally
        {
            // Leaving early (the consumer stopped reading or was cancelled) cancels the request and frees its pages.
            if (!finished) { sequence.Cancelled = true; _wake.Release(); }
            sequence.Registration.Dispose();
        }
    }

    public EngineSnapshot Snapshot()
    {
        lock (_stats)
        {
            var service = _policy.Service;
            return new EngineSnapshot
            {
                Waiting = Math.Max(0, Volatile.Read(ref _waiting)),
                Running = Volatile.Read(ref _runningCount),
                KvPagesTotal = _pool.TotalPages,
                KvPagesUsed = Math.Max(0, _pool.TotalPages - _pool.FreePages - _radix.EvictablePages),
                KvPagesCached = _radix.CachedPages,
                PrefixCacheHitTokens = _hitTokens,
                PromptTokens = _promptTokens,
                GeneratedTokens = _generatedTokens,
                Steps = _steps,
                Preemptions = _preemptions,
                PageSize = _options.PageSize,
                // Clients that only ever waited (never admitted) are listed too: a starved client must show up.
                Clients = _clients.Keys.Union(_clientWaiting.Keys).ToDictionary(name => name, name =>
                {
                    var c = _clients.GetValueOrDefault(name);
                    return new ClientCounters(c.Prompt, c.Generated, c.Requests, service.GetValueOrDefault(name)) { Waiting = _clientWaiting.GetValueOrDefault(name) };
                }),
            };
        }
    }

    public async Task DrainAsync(CancellationToken cancellation = default)
    {
        _draining = true;
        while (Volatile.Read(ref _waiting) > 0 || Volatile.Read(ref _runningCount) > 0 || !_arrivals.IsEmpty)
        {
            if (_fault != null) return;
            await Task.Delay(20, cancellation);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _wake.Release();
        await Task.Run(() => _loop.Join());
        _pool.Dispose();
        _stop.Dispose();
    }

    // ---------------------------------------------------------------- engine loop (one thread)

    private sealed class Matcher(BatchingServingEngine engine) : IPrefixMatcher
    {
        public int MatchLength(ScheduledRequest request) => engine.CachedPrefix(request.Tokens, engine._radix.MatchLength(request.Tokens));
    }

    /// <summary>
    /// The usable part of a cached prefix: page-aligned and leaving at least two tokens to compute, so the last
    /// prompt token comes out of a GEMM chunk as it would without the cache (batch invariance), and so there are
    /// logits to sample from.
    /// </summary>
    private int CachedPrefix(int[] tokens, int matched)
    {
        if (!_options.PrefixCache) return 0;
        int limit = Math.Max(0, tokens.Length - 2) / _options.PageSize * _options.PageSize;
        return Math.Min(matched, limit);
    }

    private void Loop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                AcceptArrivals();
                ReapCancelled();
                if (_running.Count == 0 && _policy.WaitingCount == 0)
                {
                    _wake.Wait(_stop.Token);
                    continue;
                }
                if (!Step())
                    _wake.Wait(TimeSpan.FromMilliseconds(5)); // nothing could run (all waiting for pages): wait for a change
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            _fault = e;
            foreach (var s in _running.Concat(_queued)) s.Output.Writer.TryComplete(e);
            while (_arrivals.TryDequeue(out var s)) s.Output.Writer.TryComplete(e);
        }
        finally
        {
            // Stopped: nobody may wait forever on a request the loop will not run.
            foreach (var s in _running.Concat(_queued)) s.Output.Writer.TryComplete();
            while (_arrivals.TryDequeue(out var s)) s.Output.Writer.TryComplete();
        }
    }

    private void AcceptArrivals()
    {
        while (_arrivals.TryDequeue(out var s))
        {
            if (s.Cancelled) { LeaveQueue(s); Complete(s, FinishReason.Cancelled); continue; }
            _policy.Enqueue(s.Scheduled);
            _queued.Add(s);
        }
    }

    private void ReapCancelled()
    {
        for (int i = _running.Count - 1; i >= 0; i--)
        {
            var s = _running[i];
            if (!s.Cancelled) continue;
            _running.RemoveAt(i);
            Release(s, keepInCache: true);
            Complete(s, FinishReason.Cancelled);
        }
        // Waiting requests leave the queue at once too, so their callers return and the queue has room again.
        if (_queued.Count == 0) return;
        List<Sequence>? cancelled = null;
        foreach (var s in _queued)
            if (s.Cancelled) (cancelled ??= []).Add(s);
        if (cancelled == null) return;
        foreach (var s in cancelled)
        {
            _queued.Remove(s);
            if (_policy.Remove(s.Scheduled)) LeaveQueue(s);
            Complete(s, FinishReason.Cancelled);
        }
    }

    /// <summary>One engine step. Returns false when nothing could run.</summary>
    private bool Step()
    {
        int budget = _options.MaxBatchTokens;
        var batch = _batch;
        batch.Clear();

        // 1. Decode: every running request whose prompt is done adds its one pending token. Pages first; when they
        // run out, the youngest running requests are preempted (recomputed later).
        _running.Sort((a, b) => a.Scheduled.Arrival.CompareTo(b.Scheduled.Arrival));
        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            var s = _running[i];
            if (s.PendingTokens != 1) continue;
            while (!EnsurePages(s, s.Computed + 1))
            {
                if (!PreemptYoungest(exclude: s)) break;
            }
            if (!s.Running) continue;
            if (_pool.PagesFor(s.Computed + 1) > s.Pages.Count) continue; // could not get a page this step
            s.Chunk = 1;
            s.InBatch = true;
            batch.Add(s);
            budget--;
        }

        // 2. Prompts already running continue in chunks.
        foreach (var s in _running)
        {
            if (s.PendingTokens < 2 || budget < 2) continue;
            int chunk = PrefillChunk(s.PendingTokens, budget);
            if (chunk == 0 || !EnsurePages(s, s.Computed + chunk)) continue;
            s.Chunk = chunk;
            s.InBatch = true;
            batch.Add(s);
            budget -= chunk;
        }

        // 3. Admit waiting requests in the policy's order while the budget and pages last.
        if (budget >= 2 && _running.Count < _options.MaxRunning && _policy.WaitingCount > 0)
            _policy.Admit(_matcher, scheduled => TryAdmit((Sequence)scheduled.EngineState!, ref budget, batch));

        if (batch.Count == 0) return false;
        // Single-token entries first (decodes, one-token prompts): the model gives the leading ones the
        // matrix-vector arithmetic, and a request must get the same arithmetic whatever else is in the step.
        _prompts.Clear();
        int singles = 0;
        for (int i = 0; i < batch.Count; i++)
            if (batch[i].Chunk == 1) batch[singles++] = batch[i];
            else _prompts.Add(batch[i]);
        batch.RemoveRange(singles, batch.Count - singles);
        batch.AddRange(_prompts);
        RunBatch(batch);
        return true;
    }

    /// <summary>Tokens of a prompt to compute now: at most the budget, never exactly one (see the class remarks).</summary>
    private static int PrefillChunk(int pending, int budget)
    {
        if (pending == 1) return budget >= 1 ? 1 : 0; // a one-token prompt is a decode-shaped step either way
        int chunk = Math.Min(pending, budget);
        if (pending - chunk == 1) chunk = chunk > 2 ? chunk - 1 : 0; // never leave a single prompt token for later
        return chunk >= 2 ? chunk : 0;
    }

    /// <summary>The request stopped waiting (admitted or cancelled while queued).</summary>
    private void LeaveQueue(Sequence s)
    {
        Interlocked.Decrement(ref _waiting);
        CountClientWaiting(s.Request.ClientId, -1);
    }

    /// <summary>Per-client queue lengths: a client with requests waiting is backlogged, which the fairness bounds are about.</summary>
    private void CountClientWaiting(string client, int delta)
    {
        lock (_stats) _clientWaiting[client] = _clientWaiting.GetValueOrDefault(client) + delta;
    }

    private bool TryAdmit(Sequence s, ref int budget, List<Sequence> batch)
    {
        if (s.Cancelled)
        {
            _queued.Remove(s);
            LeaveQueue(s);
            Complete(s, FinishReason.Cancelled);
            return true; // taken out of the queue
        }
        if (_running.Count >= _options.MaxRunning || budget < 2 && s.History.Count > 1) return false;
        int[] tokens = s.Scheduled.Tokens;
        var pages = new List<int>();
        PrefixMatch? match = null;
        int cached = 0;
        if (_options.PrefixCache)
        {
            var found = _radix.Match(tokens, pages);
            match = found;
            cached = CachedPrefix(tokens, found.Length);
            pages.RemoveRange(cached / _options.PageSize, pages.Count - cached / _options.PageSize);
            _radix.Lock(found);
        }
        int chunk = PrefillChunk(tokens.Length - cached, budget);
        s.Pages.Clear();
        s.Pages.AddRange(pages);
        s.Match = match;
        s.Computed = cached;
        if (chunk == 0 || !EnsurePages(s, cached + chunk))
        {
            if (match is { } held) _radix.Unlock(held);
            FreeOwnPages(s);
            s.Match = null;
            s.Pages.Clear();
            s.Computed = 0;
            return false;
        }
        s.Chunk = chunk;
        s.InBatch = true;
        s.Running = true;
        _queued.Remove(s);
        _running.Add(s);
        batch.Add(s);
        budget -= chunk;
        LeaveQueue(s);
        Interlocked.Increment(ref _runningCount);
        s.Scheduled.CachedTokens = cached;
        _policy.OnPrefill(s.Scheduled, tokens.Length - cached);
        lock (_stats)
        {
            var c = _clients.GetValueOrDefault(s.Request.ClientId);
            _clients[s.Request.ClientId] = (c.Prompt + tokens.Length - cached, c.Generated, c.Requests + (s.Admitted ? 0 : 1));
            if (!s.Admitted) { _promptTokens += tokens.Length; _hitTokens += cached; }
        }
        s.Admitted = true;
        return true;
    }

    /// <summary>Gives the sequence pages for <paramref name="tokens"/> tokens, evicting unlocked cached prefixes if needed.</summary>
    private bool EnsurePages(Sequence s, int tokens)
    {
        int need = _pool.PagesFor(tokens) - s.Pages.Count;
        if (need <= 0) return true;
        if (_pool.FreePages < need) _radix.Evict(need - _pool.FreePages);
        return _pool.TryAllocate(need, s.Pages);
    }

    /// <summary>Preempts the most recently arrived running request (other than <paramref name="exclude"/>): its KV is kept in the cache (evictable) and it waits to be recomputed.</summary>
    private bool PreemptYoungest(Sequence exclude)
    {
        for (int i = _running.Count - 1; i >= 0; i--)
        {
            var victim = _running[i];
            if (victim == exclude || victim.InBatch) continue;
            _running.RemoveAt(i);
            Release(victim, keepInCache: true);
            victim.Running = false;
            victim.Computed = 0;
            victim.Scheduled.Tokens = [.. victim.History]; // prompt plus what it generated: recomputed on re-admission
            Interlocked.Increment(ref _waiting);
            CountClientWaiting(victim.Request.ClientId, +1);
            _policy.Enqueue(victim.Scheduled);
            _queued.Add(victim);
            lock (_stats) _preemptions++;
            return true;
        }
        return false;
    }

    /// <summary>Returns a sequence's pages: its full computed pages into the prefix cache (which may free duplicates), the rest to the pool.</summary>
    private void Release(Sequence s, bool keepInCache)
    {
        int full = s.Computed / _options.PageSize;
        if (keepInCache && _options.PrefixCache && full > 0)
        {
            _radix.Insert(CollectionsMarshal.AsSpan(s.History)[..(full * _options.PageSize)], s.Pages.GetRange(0, full));
            s.Pages.RemoveRange(0, full);
            _pool.Free(s.Pages);
        }
        else FreeOwnPages(s);
        if (s.Match is { } held) { _radix.Unlock(held); s.Match = null; }
        s.Pages.Clear();
        if (s.Running) Interlocked.Decrement(ref _runningCount);
        s.Running = false;
    }

    /// <summary>Frees the pages the sequence allocated itself (those after its matched cache prefix).</summary>
    private void FreeOwnPages(Sequence s)
    {
        int shared = s.Match is { } held ? Math.Min(s.Pages.Count, CachedPrefix(s.Scheduled.Tokens, held.Length) / _options.PageSize) : 0;
        var own = s.Pages.GetRange(shared, s.Pages.Count - shared);
        _pool.Free(own);
        s.Pages.Clear();
    }

    private void RunBatch(List<Sequence> batch)
    {
        int n = batch.Count, total = 0;
        var qoIndptr = Grow(ref _qoIndptr, n + 1);
        var indptr = Grow(ref _indptr, n + 1);
        var last = Grow(ref _lastPageLength, n);
        int pageCount = 0;
        for (int i = 0; i < n; i++)
        {
            var s = batch[i];
            total += s.Chunk;
            qoIndptr[i + 1] = total;
            pageCount += _pool.PagesFor(s.Computed + s.Chunk);
            indptr[i + 1] = pageCount;
        }
        var tokens = Grow(ref _tokens, total);
        var indices = Grow(ref _indices, pageCount);
        for (int i = 0; i < n; i++)
        {
            var s = batch[i];
            CollectionsMarshal.AsSpan(s.History).Slice(s.Computed, s.Chunk).CopyTo(tokens.AsSpan(qoIndptr[i]));
            int length = s.Computed + s.Chunk, pages = _pool.PagesFor(length);
            CollectionsMarshal.AsSpan(s.Pages)[..pages].CopyTo(indices.AsSpan(indptr[i]));
            last[i] = length - (pages - 1) * _options.PageSize;
        }
        int vocab = _model.Config.VocabSize;
        // Sized once for MaxRunning rows: growing it row by row reallocated a large-object-heap array (192 KiB a row
        // at vocab 49152) at almost every step while a batch filled, ~800 KiB of garbage a step.
        if (_logits.Length < n * vocab) _logits = GC.AllocateUninitializedArray<float>(Math.Max(n, _options.MaxRunning) * vocab);
        _model.Forward(tokens.AsSpan(0, total), qoIndptr, new PageTable(indptr, indices, last, _options.PageSize, n), _pool.Cache, _logits);
        lock (_stats) _steps++;

        for (int i = 0; i < n; i++)
        {
            var s = batch[i];
            s.InBatch = false;
            s.Computed += s.Chunk;
            if (s.PendingTokens > 0) continue; // a prompt chunk with more to come
            var logits = _logits.AsSpan(i * vocab, vocab);
            int token = s.Sampler.Sample(logits, CollectionsMarshal.AsSpan(s.History));
            s.Generated++;
            s.History.Add(token);
            if (s.FirstTokenTicks == 0) s.FirstTokenTicks = Stopwatch.GetTimestamp();
            _policy.OnDecode(s.Scheduled, 1);
            lock (_stats)
            {
                _generatedTokens++;
                var c = _clients.GetValueOrDefault(s.Request.ClientId);
                _clients[s.Request.ClientId] = (c.Prompt, c.Generated + 1, c.Requests);
            }
            FinishReason? finish = null;
            if (Tokenizer.IsEndOfGeneration(token)) finish = FinishReason.Stop;
            else
            {
                string text = s.Stops.Append(s.Decoder.Push(token), out bool stopped);
                if (text.Length > 0 || !stopped) s.Output.Writer.TryWrite(new GenerationUpdate(text, token, null));
                if (stopped) finish = FinishReason.Stop;
                else if (s.Generated >= s.MaxTokens) finish = FinishReason.Length;
            }
            if (finish is { } reason)
            {
                _running.Remove(s);
                // The last token was sampled but not computed: the cache keeps History[0..Computed).
                Release(s, keepInCache: true);
                if (reason == FinishReason.Length)
                {
                    string rest = s.Stops.Append(s.Decoder.Flush(), out _) + s.Stops.Flush();
                    if (rest.Length > 0) s.Output.Writer.TryWrite(new GenerationUpdate(rest, null, null));
                }
                Complete(s, reason);
            }
        }
    }

    /// <summary>The array in <paramref name="field"/>, replaced by a larger one (room to grow) when shorter than <paramref name="length"/>.</summary>
    private static int[] Grow(ref int[] field, int length) => field.Length >= length ? field : field = new int[Math.Max(length, 2 * field.Length)];

    private void Complete(Sequence s, FinishReason reason)
    {
        long now = Stopwatch.GetTimestamp();
        var promptTime = Stopwatch.GetElapsedTime(s.ArrivalTicks, s.FirstTokenTicks == 0 ? now : s.FirstTokenTicks);
        var generationTime = s.FirstTokenTicks == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(s.FirstTokenTicks, now);
        s.Output.Writer.TryWrite(new GenerationUpdate("", null, new GenerationStats(s.Request.PromptTokens.Count, s.Generated, promptTime, generationTime, reason)));
        s.Output.Writer.TryComplete();
    }
}
