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
        using var probe = new ReadProbe(pool, bytes);
        double best = 0;
        for (int p = 0; p < passes; p++) best = Math.Max(best, probe.Pass());
        return best;
    }

    /// <summary>
    /// One buffer read pass by pass, so a benchmark can alternate read passes with the kernel it measures: on a shared
    /// host the bandwidth moves by tens of percent within a minute, and a ratio is only fair over the same minutes.
    /// </summary>
    public sealed class ReadProbe : IDisposable
    {
        private readonly WorkerPool _pool;
        private readonly long _floats;
        private readonly int _items;
        private float* _data;
        private readonly ReadWork _work;

        public ReadProbe(WorkerPool pool, long bytes = 512L << 20)
        {
            _pool = pool;
            _items = pool.Threads * 8;
            _floats = bytes / sizeof(float) / _items * _items;
            _data = (float*)NativeMemory.AlignedAlloc((nuint)(_floats * sizeof(float)), 64);
            new Span<float>(_data, (int)Math.Min(_floats, int.MaxValue)).Fill(1f); // touch every page before timing
            _work = new ReadWork(_data, _floats, _items);
        }

        /// <summary>Reads the whole buffer once on all threads; returns GB/s.</summary>
        public double Pass()
        {
            ObjectDisposedException.ThrowIf(_data == null, this);
            long start = Stopwatch.GetTimestamp();
            _pool.For(_items, _work);
            return _floats * sizeof(float) / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9;
        }

        public void Dispose()
        {
            if (_data == null) return;
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }
}
