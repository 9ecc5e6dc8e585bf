using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// The SIMD primitives of the attention kernels: Vector512 where the CPU accelerates it, else Vector256, else scalar
/// (the IsHardwareAccelerated checks are JIT-time constants, so each machine compiles one path). Head dims are
/// multiples of 16.
/// </summary>
internal static unsafe class AttentionSimd
{
    /// <summary>Keys per softmax block; also the row stride of the score scratch.</summary>
    public const int BlockKeys = 32;

    /// <summary>Four dot products of one key row with four query rows, the key read once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4(float* q0, float* q1, float* q2, float* q3, float* k, int d, out float s0, out float s1, out float s2, out float s3)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int e = 0; e < d; e += 16)
            {
                var kv = Vector512.Load(k + e);
                a0 = Vector512.MultiplyAddEstimate(Vector512.Load(q0 + e), kv, a0);
                a1 = Vector512.MultiplyAddEstimate(Vector512.Load(q1 + e), kv, a1);
                a2 = Vector512.MultiplyAddEstimate(Vector512.Load(q2 + e), kv, a2);
                a3 = Vector512.MultiplyAddEstimate(Vector512.Load(q3 + e), kv, a3);
            }
            s0 = Vector512.Sum(a0); s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2); s3 = Vector512.Sum(a3);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int e = 0; e < d; e += 8)
            {
                var kv = Vector256.Load(k + e);
                a0 = Vector256.MultiplyAddEstimate(Vector256.Load(q0 + e), kv, a0);
                a1 = Vector256.MultiplyAddEstimate(Vector256.Load(q1 + e), kv, a1);
                a2 = Vector256.MultiplyAddEstimate(Vector256.Load(q2 + e), kv, a2);
                a3 = Vector256.MultiplyAddEstimate(Vector256.Load(q3 + e), kv, a3);
            }
            s0 = Vector256.Sum(a0); s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2); s3 = Vector256.Sum(a3);
        }
        else
        {
            s0 = Dot(q0, k, d); s1 = Dot(q1, k, d); s2 = Dot(q2, k, d); s3 = Dot(q3, k, d);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* q, float* k, int d)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a = default;
            for (int e = 0; e < d; e += 16) a = Vector512.MultiplyAddEstimate(Vector512.Load(q + e), Vector512.Load(k + e), a);
            return Vector512.Sum(a);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> a = default;
            for (int e = 0; e < d; e += 8) a = Vector256.MultiplyAddEstimate(Vector256.Load(q + e), Vector256.Load(k + e), a);
            return Vector256.Sum(a);
        }
        float s = 0;
        for (int e = 0; e < d; e++) s = MathF.FusedMultiplyAdd(q[e], k[e], s);
        return s;
    }

    /// <summary>o[0..d) += sum_j p[j] * v[j][0..d): the output row stays in registers across the keys, 64 floats at a time.</summary>
    /// <param name="p">[n] weights.</param>
    /// <param name="v">[n] pointers to value rows of [d].</param>
    public static void AccumulateWeightedRows(float* o, float* p, nint* v, int n, int d)
    {
        int e = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; e + 64 <= d; e += 64)
            {
                var a0 = Vector512.Load(o + e); var a1 = Vector512.Load(o + e + 16); var a2 = Vector512.Load(o + e + 32); var a3 = Vector512.Load(o + e + 48);
                for (int j = 0; j < n; j++)
                {
                    var w = Vector512.Create(p[j]);
                    float* row = (float*)v[j] + e;
                    a0 = Vector512.MultiplyAddEstimate(Vector512.Load(row), w, a0);
                    a1 = Vector512.MultiplyAddEstimate(Vector512.Load(row + 16), w, a1);
                    a2 = Vector512.MultiplyAddEstimate(Vector512.Load(row + 32), w, a2);
                    a3 = Vector512.MultiplyAddEstimate(Vector512.Load(row + 48), w, a3);
                }
                a0.Store(o + e); a1.Store(o + e + 16); a2.Store(o + e + 32); a3.Store(o + e + 48);
            }
            for (; e < d; e += 16)
            {
                var a = Vector512.Load(o + e);
                for (int j = 0; j < n; j++) a = Vector512.MultiplyAddEstimate(Vector512.Load((float*)v[j] + e), Vector512.Create(p[j]), a);
                a.Store(o + e);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; e + 32 <= d; e += 32)
            {
                var a0 = Vector256.Load(o + e); var a1 = Vector256.Load(o + e + 8); var a2 = Vector256.Load(o + e + 16); var a3 = Vector256.Load(o + e + 24);
                for (int j = 0; j < n; j++)
                {
                    var w = Vector256.Create(p[j]);
                    float* row = (float*)v[j] + e;
                    a0 = Vector256.MultiplyAddEstimate(Vector256.Load(row), w, a0);
                    a1 = Vector256.MultiplyAddEstimate(Vector256.Load(row + 8), w, a1);
                    a2 = Vector256.MultiplyAddEstimate(Vector256.Load(row + 16), w, a2);
                    a3 = Vector256.MultiplyAddEstimate(Vector256.Load(row + 24), w, a3);
                }
                a0.Store(o + e); a1.Store(o + e + 8); a2.Store(o + e + 16); a3.Store(o + e + 24);
            }
            for (; e < d; e += 8)
            {
                var a = Vector256.Load(o + e);
                for (int j = 0; j < n; j++) a = Vector256.MultiplyAddEstimate(Vector256.Load((float*)v[j] + e), Vector256.Create(p[j]), a);
                a.Store(o + e);
            }
        }
        else
        {
            for (int j = 0; j < n; j++)
                for (int i = 0; i < d; i++) o[i] = MathF.FusedMultiplyAdd(((float*)v[j])[i], p[j], o[i]);
        }
    }

    /// <summary>dst[0..d) = src[0..d) * a.</summary>
    public static void Scale(float* dst, float* src, float a, int d)
    {
        int e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256.Create(a);
            for (; e + 8 <= d; e += 8) (Vector256.Load(src + e) * w).Store(dst + e);
        }
        for (; e < d; e++) dst[e] = src[e] * a;
    }

    /// <summary>va[0..d) = va * ca + vb * cb.</summary>
    public static void ScaleAdd(float* va, float ca, float* vb, float cb, int d)
    {
        int e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var wa = Vector256.Create(ca); var wb = Vector256.Create(cb);
            for (; e + 8 <= d; e += 8) (Vector256.Load(va + e) * wa + Vector256.Load(vb + e) * wb).Store(va + e);
        }
        for (; e < d; e++) va[e] = va[e] * ca + vb[e] * cb;
    }

    /// <summary>Max of a score row of <see cref="BlockKeys"/> floats.</summary>
    public static float BlockMax(float* s)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Max(Vector256.Max(Vector256.Load(s), Vector256.Load(s + 8)), Vector256.Max(Vector256.Load(s + 16), Vector256.Load(s + 24)));
            float r = m[0];
            for (int i = 1; i < 8; i++) r = MathF.Max(r, m[i]);
            return r;
        }
        float max = s[0];
        for (int i = 1; i < BlockKeys; i++) max = MathF.Max(max, s[i]);
        return max;
    }

    /// <summary>s[i] := 2^(s[i] - max) over a row of <see cref="BlockKeys"/> floats (-inf gives 0); returns the sum.</summary>
    public static float BlockExp2(float* s, float max)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(max);
            var p0 = Exp2(Vector256.Load(s) - m); var p1 = Exp2(Vector256.Load(s + 8) - m);
            var p2 = Exp2(Vector256.Load(s + 16) - m); var p3 = Exp2(Vector256.Load(s + 24) - m);
            p0.Store(s); p1.Store(s + 8); p2.Store(s + 16); p3.Store(s + 24);
            return Vector256.Sum((p0 + p1) + (p2 + p3));
        }
        float sum = 0;
        for (int i = 0; i < BlockKeys; i++) sum += s[i] = Exp2(s[i] - max);
        return sum;
    }

    // 2^x = 2^round(x) * 2^f, f in [-0.5, 0.5], 2^f by its degree-6 Taylor polynomial (relative error ~1e-7).
    // Inputs at or below -127 (masked keys: -inf) give exactly 0.
    private const float C1 = 0.6931471806f, C2 = 0.2402265070f, C3 = 0.05550410866f, C4 = 0.009618129108f, C5 = 0.001333355815f, C6 = 0.0001540353039f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp2(Vector256<float> x)
    {
        x = Vector256.Max(x, Vector256.Create(-127f));
        var n = Vector256.Round(x);
        var f = x - n;
        var p = Vector256.Create(C6);
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C5));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C4));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C3));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C2));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C1));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(1f));
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return p * scale;
    }

    public static float Exp2(float x)
    {
        x = MathF.Max(x, -127f);
        float n = MathF.Round(x), f = x - n;
        float p = C6;
        p = p * f + C5; p = p * f + C4; p = p * f + C3; p = p * f + C2; p = p * f + C1; p = p * f + 1f;
        return p * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }
}
