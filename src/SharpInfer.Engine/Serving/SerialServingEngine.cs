using System.Runtime.CompilerServices;
using System.Threading.Channels;
using SharpInfer.Engine.Generation;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Engine.Serving;

/// <summary>
/// The simplest serving engine: requests run one after another through a <see cref="TextGenerator"/>. Useful as a
/// baseline (the "sequential" side of batch comparisons) and where batching is not wanted.
/// </summary>
public sealed class SerialServingEngine : IServingEngine
{
    private readonly TextGenerator _generator;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly int _maxQueue;
    private int _waiting, _running;
    private long _prompt, _generated, _steps;
    private volatile bool _draining;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ClientCounters> _clients = [];

    public SerialServingEngine(TextGenerator generator, int maxQueue = 256)
    {
        _generator = generator;
        _maxQueue = maxQueue;
    }

    public ITokenizer Tokenizer => _generator.Tokenizer;
    public int ContextLength => _generator.ContextLength;

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(ServingRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        if (_draining) throw new QueueFullException(0, TimeSpan.FromSeconds(5));
        if (request.PromptTokens.Count >= ContextLength) throw new PromptTooLongException(request.PromptTokens.Count, ContextLength);
        if (Interlocked.Increment(ref _waiting) > _maxQueue)
        {
            Interlocked.Decrement(ref _waiting);
            throw new QueueFullException(_maxQueue, TimeSpan.FromSeconds(1));
        }
        bool entered = false;
        try
        {
            await _turn.WaitAsync(cancellation);
            entered = true;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        var channel = Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        Interlocked.Increment(ref _running);
        // The model runs on a worker thread so the caller's thread (a Kestrel request) is never blocked.
        var work = Task.Run(() =>
        {
            try
            {
                foreach (var update in _generator.Generate(request.PromptTokens, request.Options, cancellation))
                {
                    channel.Writer.TryWrite(update);
                    if (update.Final is { } stats) Account(request.ClientId, stats);
                }
                channel.Writer.TryComplete();
            }
            catch (Exception e) { channel.Writer.TryComplete(e); }
            finally
            {
                Interlocked.Decrement(ref _running);
                if (entered) _turn.Release();
            }
        }, CancellationToken.None);
        await foreach (var update in channel.Reader.ReadAllAsync(CancellationToken.None))
            yield return update;
        await work;
    }

    private void Account(string client, GenerationStats stats)
    {
        lock (_lock)
        {
            _prompt += stats.PromptTokens;
            _generated += stats.GeneratedTokens;
            _steps += stats.GeneratedTokens;
            var c = _clients.GetValueOrDefault(client) ?? new ClientCounters(0, 0, 0, 0);
            _clients[client] = new ClientCounters(c.ComputedPromptTokens + stats.PromptTokens, c.GeneratedTokens + stats.GeneratedTokens, c.Requests + 1,
                c.Service + stats.PromptTokens + 2.0 * stats.GeneratedTokens);
        }
    }

    public EngineSnapshot Snapshot()
    {
        lock (_lock)
            return new EngineSnapshot
            {
                Waiting = Volatile.Read(ref _waiting), Running = Volatile.Read(ref _running), PromptTokens = _prompt, GeneratedTokens = _generated,
                Steps = _steps, Clients = new Dictionary<string, ClientCounters>(_clients),
            };
    }

    public async Task DrainAsync(CancellationToken cancellation = default)
    {
        _draining = true;
        await _turn.WaitAsync(cancellation);
        _turn.Release();
    }

    public ValueTask DisposeAsync()
    {
        _generator.Dispose();
        return ValueTask.CompletedTask;
    }
}
