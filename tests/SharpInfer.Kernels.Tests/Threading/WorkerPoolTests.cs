using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Threading;

public class WorkerPoolTests
{
    private sealed class CountingWork(int n) : IParallelWork
    {
        public readonly int[] Hits = new int[n];
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    /// <summary>Items that each take ~20 us and record the thread that ran them.</summary>
    private sealed class ThreadRecordingWork(int n) : IParallelWork
    {
        public readonly int[] Threads = new int[n];
        public void Execute(int index)
        {
            long end = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 50000;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < end) { }
            Threads[index] = Environment.CurrentManagedThreadId;
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
    public async Task WorkersThatWentToSleepWakeForTheNextLoop()
    {
        // Workers spin ~50 us after a loop and then sleep on a semaphore; a loop must wake them (or find them
        // spinning), never run without them for good, and never hang.
        using var pool = new WorkerPool(2);
        var run = Task.Run(() =>
        {
            int loopsWithBoth = 0;
            for (int loop = 0; loop < 60; loop++)
            {
                Thread.Sleep(loop % 3); // 0-2 ms idle: the worker is spinning, or asleep
                var work = new ThreadRecordingWork(32);
                pool.For(32, work);
                Assert.All(work.Threads, t => Assert.NotEqual(0, t));
                if (loop % 3 != 0 && work.Threads.Distinct().Count() > 1) loopsWithBoth++; // after 1-2 ms: it had gone to sleep
            }
            return loopsWithBoth;
        });
        int loopsWithBoth = await run.WaitAsync(TimeSpan.FromSeconds(60)); // TimeoutException: the pool hung
        Assert.True(loopsWithBoth > 0, "the worker never took part after sleeping");
    }
}
