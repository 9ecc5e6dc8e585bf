using System.Diagnostics;
using System.Threading.Channels;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Serving;
using SharpInfer.Server.Metrics;

namespace SharpInfer.Server.Api;

/// <summary>An update of one choice, or the error that ended it.</summary>
internal readonly record struct ChoiceEvent(int Index, GenerationUpdate Update, Exception? Error);

/// <summary>
/// Runs the generations of one HTTP request (n choices for each prompt) side by side and merges their updates
/// into one stream in arrival order. Disposing cancels whatever still runs (the client went away, or a sibling
/// choice failed) and waits until the engine has let go of every generation.
/// </summary>
internal sealed class ChoiceRunner : IAsyncDisposable
{
    private readonly CancellationTokenSource _cancel;
    private readonly Channel<ChoiceEvent> _events = Channel.CreateUnbounded<ChoiceEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _all;

    public ChoiceRunner(IServingEngine engine, IReadOnlyList<ServingRequest> choices, ServerMetrics metrics, long arrivalTimestamp, CancellationToken requestAborted)
    {
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        var runs = new Task[choices.Count];
        for (int i = 0; i < choices.Count; i++)
        {
            int index = i;
            runs[i] = Task.Run(() => RunAsync(engine, index, choices[index], metrics, arrivalTimestamp));
        }
        _all = Task.WhenAll(runs).ContinueWith(_ => _events.Writer.TryComplete(), TaskScheduler.Default);
    }

    public IAsyncEnumerable<ChoiceEvent> ReadAllAsync(CancellationToken cancellation) => _events.Reader.ReadAllAsync(cancellation);

    private async Task RunAsync(IServingEngine engine, int index, ServingRequest request, ServerMetrics metrics, long arrivalTimestamp)
    {
        long? lastToken = null;
        try
        {
            await foreach (var update in engine.GenerateAsync(request, _cancel.Token).WithCancellation(_cancel.Token))
            {
                if (update.Token != null)
                {
                    long now = Stopwatch.GetTimestamp();
                    if (lastToken is { } last) metrics.ObserveInterTokenLatency(Stopwatch.GetElapsedTime(last, now));
                    else metrics.ObserveTimeToFirstToken(Stopwatch.GetElapsedTime(arrivalTimestamp, now));
                    lastToken = now;
                }
                _events.Writer.TryWrite(new ChoiceEvent(index, update, null));
            }
        }
        catch (Exception e)
        {
            // One failed choice fails the whole request: stop its siblings rather than let them run for nobody.
            _events.Writer.TryWrite(new ChoiceEvent(index, default, e));
            _cancel.Cancel();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _cancel.Cancel();
        await _all;
        _cancel.Dispose();
    }
}
