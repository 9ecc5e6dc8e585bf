using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Diagnostics;

/// <summary>
/// A STREAM-like read test: every thread of the pool sums its share of a buffer much larger than the caches.
/// Kernel speed is reported against this figure (GB/s and % of it), measured in the same run.
/// </summary>
public static unsafe class MemoryBandwidth
{
    private sealed class ReadWork(float* data, long floats, int items) : IParallelWork
    {
        public readonly float[] Sums = new float[items];
        public void Execute(int index)
        {
            long chunk = floats / Sums.Length;
            Sums[index] = TensorPrimitives.Sum(new ReadOnlySpan<float>(data + index * chunk, checked((int)chunk)));
        }
    }

    /// <summary>Sustained read bandwidth in GB/s (1e9 bytes/s): the best of several passes over a 512 MiB buffer.</summary>
    public static double MeasureReadGBps(WorkerPool pool, long bytes = 512L << 20, int passes = 5)
    {
        long floats = bytes / sizeof(float);
        float* data = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            new Span<float>(data, (int)Math.Min(floats, int.MaxValue)).Fill(1f); // touch every page before timing
            int items = pool.Threads * 8;
            var work = new ReadWork(data, floats, items);
            double best = 0;
            for (int p = 0; p < passes; p++)
            {
                long start = Stopwatch.GetTimestamp();
                pool.For(items, work);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                best = Math.Max(best, floats / items * items * sizeof(float) / seconds / 1e9);
            }
            return best;
        }
        finally { NativeMemory.AlignedFree(data); }
    }
}
