using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Diagnostics;

/// <summary>
/// The machine's FP32 multiply-add peak: every thread of the pool runs twelve independent chains of vector FMAs on
/// registers (no memory traffic). A compute-bound kernel is reported against this figure, as a memory-bound one is
/// against <see cref="MemoryBandwidth"/>; it also bounds what any reordering of the same arithmetic can gain.
/// </summary>
public sealed class FmaThroughput
{
    private const int Chains = 12;
    private readonly WorkerPool _pool;
    private readonly ChainWork _work;

    /// <param name="iterations">loop trips per thread and pass (12 vector FMAs each).</param>
    public FmaThroughput(WorkerPool pool, long iterations = 1_000_000)
    {
        _pool = pool ?? throw new ArgumentNullException(nameof(pool));
        _work = new ChainWork(iterations, pool.Threads);
    }

    /// <summary>Multiply-adds per second on all threads, in billions of FP32 lanes (GFMA/s).</summary>
    public double Pass()
    {
        long start = Stopwatch.GetTimestamp();
        _pool.For(_pool.Threads, _work);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return _work.LanesPerPass / seconds / 1e9;
    }

    private sealed class ChainWork(long iterations, int threads) : IParallelWork
    {
        public readonly float[] Sinks = new float[threads * 16]; // a result per thread, 64 bytes apart, so the chains are not dead code
        public double LanesPerPass => (double)iterations * Chains * threads * (Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1);

        public void Execute(int index) => Sinks[index * 16] = Vector512.IsHardwareAccelerated ? Run512(iterations) : Vector256.IsHardwareAccelerated ? Run256(iterations) : RunScalar(iterations);

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static float Run512(long iterations)
        {
            var m = Vector512.Create(0.9999f); var c = Vector512.Create(1e-4f);
            Vector512<float> a0 = Vector512<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c); a2 = Vector512.FusedMultiplyAdd(a2, m, c);
                a3 = Vector512.FusedMultiplyAdd(a3, m, c); a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
                a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c); a8 = Vector512.FusedMultiplyAdd(a8, m, c);
                a9 = Vector512.FusedMultiplyAdd(a9, m, c); a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            }
            return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static float Run256(long iterations)
        {
            var m = Vector256.Create(0.9999f); var c = Vector256.Create(1e-4f);
            Vector256<float> a0 = Vector256<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c); a2 = Vector256.FusedMultiplyAdd(a2, m, c);
                a3 = Vector256.FusedMultiplyAdd(a3, m, c); a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
                a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c); a8 = Vector256.FusedMultiplyAdd(a8, m, c);
                a9 = Vector256.FusedMultiplyAdd(a9, m, c); a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
            }
            return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
        }

        private static float RunScalar(long iterations)
        {
            Span<float> a = stackalloc float[Chains];
            a.Fill(1f);
            for (long i = 0; i < iterations; i++)
                for (int k = 0; k < Chains; k++) a[k] = MathF.FusedMultiplyAdd(a[k], 0.9999f, 1e-4f);
            float sum = 0;
            foreach (float x in a) sum += x;
            return sum;
        }
    }
}
