using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Threading;

public class WorkerPoolTests
{
    private sealed class CountingWork(int n) : IParallelWork
    {
        public readonly int[] Hits = new int[n];
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    /// <summary>
    /// Two items; the thread that takes one first waits (up to 10 s) until another thread has taken the other, so a
    /// loop finishes promptly only when a second thread joins it.
    /// </summary>
    private sealed class RendezvousWork : IParallelWork
    {
        private int _first, _joined;
        public bool TimedOut;

        public void Execute(int index)
        {
            int me = Environment.CurrentManagedThreadId;
            int first = Interlocked.CompareExchange(ref _first, me, 0);
            if (first != 0 && first != me) { Volatile.Write(ref _joined, 1); return; }
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (Volatile.Read(ref _joined) == 0)
            {
                if (clock.ElapsedMilliseconds > 10_000) { TimedOut = true; return; }
                Thread.SpinWait(20);
            }
        }
    }

    private sealed class FailingWork : IParallelWork
    {
        public void Execute(int index) { if (index == 37) throw new InvalidOperationException("item 37"); }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void RunsEveryItemExactlyOnceOverManyLoops(int threads)
    {
        using var pool = new WorkerPool(threads);
        for (int loop = 0; loop < 2000; loop++)
        {
            int n = loop % 50;
            var work = new CountingWork(n);
            pool.For(n, work);
            Assert.All(work.Hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void AnExceptionInAnItemReachesTheCallerAndThePoolStillWorks()
    {
        using var pool = new WorkerPool(2);
        var e = Assert.Throws<InvalidOperationException>(() => pool.For(100, new FailingWork()));
        Assert.Equal("item 37", e.Message);
        var work = new CountingWork(10);
        pool.For(10, work);
        Assert.All(work.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void WorkersThatWentToSleepWakeForTheNextLoop()
    {
        // Workers spin ~50 us after a loop and then sleep on a semaphore; each loop below starts after 1-2 ms idle,
        // so it must wake the worker, which must then take an item (the caller's item waits for it). Without the
        // wake-up the first loop would time out. The wait tolerates a slow wake-up on a loaded machine.
        using var pool = new WorkerPool(2);
        for (int loop = 0; loop < 20; loop++)
        {
            Thread.Sleep(1 + loop % 2);
            var work = new RendezvousWork();
            pool.For(2, work);
            Assert.False(work.TimedOut, $"loop {loop}: the sleeping worker did not wake");
        }
    }
}
