using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Threading;

public class WorkerPoolTests
{
    private sealed class CountingWork(int n) : IParallelWork
    {
        public readonly int[] Hits = new int[n];
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
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
}
