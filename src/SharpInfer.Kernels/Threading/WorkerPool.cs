using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace SharpInfer.Kernels.Threading;

/// <summary>One unit of a parallel loop. A class implements it so that a loop over items is one virtual call per item, not per element.</summary>
public interface IParallelWork
{
    /// <summary>Runs item <paramref name="index"/> (0 &lt;= index &lt; item count). Items must be independent of each other.</summary>
    void Execute(int index);
}

/// <summary>
/// A persistent fork/join pool: the calling thread plus <c>threads - 1</c> workers that spin briefly and then sleep
/// between loops. Parallel.For costs tens of microseconds per call, and a decode step makes hundreds of calls.
/// Items are claimed dynamically; since items are independent, results do not depend on which thread ran what.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _sleeping; // 1 while worker i waits (or is about to wait) on its semaphore
    private readonly ManualResetEventSlim _allDone = new(false);
    private IParallelWork? _work;
    private int _itemCount;
    private int _nextItem;
    private int _workersRunning;
    private long _generation;
    private volatile bool _disposed;
    private ExceptionDispatchInfo? _failure;

    /// <summary>Threads that take part in a loop, the caller included.</summary>
    public int Threads { get; }

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "at least one thread");
        Threads = threads;
        _workers = new Thread[threads - 1];
        _wake = new SemaphoreSlim[threads - 1];
        _sleeping = new int[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int id = i;
            _workers[i] = new Thread(() => WorkerLoop(id)) { IsBackground = true, Name = $"sharpinfer-worker-{i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>
    /// Runs work.Execute(i) for i in [0, itemCount) on all threads and returns when every item is done; on the calling
    /// thread alone when there are fewer than <paramref name="minParallelItems"/> items, too little work to be worth
    /// waking the others.
    /// </summary>
    public void For(int itemCount, IParallelWork work, int minParallelItems = 2)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (itemCount <= 0) return;
        if (_workers.Length == 0 || itemCount < Math.Max(2, minParallelItems))
        {
            for (int i = 0; i < itemCount; i++) work.Execute(i);
            return;
        }
        _work = work;
        _itemCount = itemCount;
        _nextItem = 0;
        _failure = null;
        _workersRunning = _workers.Length;
        _allDone.Reset();
        Interlocked.Increment(ref _generation); // a full fence: a worker that reads _sleeping = 0 below is still spinning and sees this
        for (int i = 0; i < _wake.Length; i++)
            if (Volatile.Read(ref _sleeping[i]) != 0 && _wake[i].CurrentCount == 0) _wake[i].Release(); // spinning workers need no (locked) release
        RunItems();
        var spin = new SpinWait();
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _workersRunning) != 0)
        {
            // A late Set from an earlier loop may leave the event signalled, so the counter decides, the event only naps.
            // Short pauses first (the others usually finish within microseconds: ~0.6 -> ~0.4 us per empty loop of 16
            // items on two threads), then SpinWait's yields, which let a descheduled worker run when the cores are
            // oversubscribed, then naps.
            long elapsed = Stopwatch.GetTimestamp() - start;
            if (elapsed > Stopwatch.Frequency / 1000) _allDone.Wait(1);
            else if (elapsed > Stopwatch.Frequency / 50000) spin.SpinOnce(-1);
            else Thread.SpinWait(1);
        }
        _work = null;
        _failure?.Throw();
    }

    private void RunItems()
    {
        var work = _work!;
        int count = _itemCount;
        try
        {
            for (int i = Interlocked.Increment(ref _nextItem) - 1; i < count; i = Interlocked.Increment(ref _nextItem) - 1)
                work.Execute(i);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            Volatile.Write(ref _nextItem, count); // the others stop taking items
        }
    }

    private void WorkerLoop(int id)
    {
        long seen = 0;
        while (true)
        {
            // Spin for about 50 microseconds: the next loop of a decode step usually comes that soon.
            long start = Stopwatch.GetTimestamp();
            long spinTicks = Stopwatch.Frequency / 20000;
            while (Volatile.Read(ref _generation) == seen && !_disposed)
            {
                if (Stopwatch.GetTimestamp() - start > spinTicks)
                {
                    // Announce the sleep before the last look at the generation (both full fences): either the caller
                    // sees the flag and releases the semaphore, or this thread sees the new generation and skips the wait.
                    Interlocked.Exchange(ref _sleeping[id], 1);
                    if (Volatile.Read(ref _generation) == seen && !_disposed) _wake[id].Wait();
                    Interlocked.Exchange(ref _sleeping[id], 0);
                    start = Stopwatch.GetTimestamp();
                }
                else Thread.SpinWait(1); // look often: a late start leaves the caller alone with the items
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            RunItems();
            if (Interlocked.Decrement(ref _workersRunning) == 0) _allDone.Set();
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var w in _wake) w.Release();
        foreach (var t in _workers) t.Join();
        foreach (var w in _wake) w.Dispose();
        _allDone.Dispose();
    }
}
