using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Dispatch;

/// <summary>
/// Caps the vector width of a generic loop. The loops below are specialised per width struct by the JIT, so one loop
/// gives the scalar, Vector256 and Vector512 solutions that <c>bench kernels</c> shows side by side.
/// </summary>
public interface IVectorWidth
{
    static abstract bool Use512 { get; }
    static abstract bool Use256 { get; }
    static abstract Isa Isa { get; }
}

public readonly struct ScalarWidth : IVectorWidth { public static bool Use512 => false; public static bool Use256 => false; public static Isa Isa => Isa.Scalar; }
public readonly struct Width256 : IVectorWidth { public static bool Use512 => false; public static bool Use256 => true; public static Isa Isa => Isa.Avx2; }
public readonly struct Width512 : IVectorWidth { public static bool Use512 => true; public static bool Use256 => true; public static Isa Isa => Isa.Avx512; }

/// <summary>An element-wise operator in the TensorPrimitives style: one Invoke per width.</summary>
public interface IBinaryOperator
{
    float Invoke(float x, float y);
    Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
    Vector512<float> Invoke(Vector512<float> x, Vector512<float> y);
}

/// <summary>silu(x) * y with silu(x) = x / (1 + exp(-x)).</summary>
public readonly struct SiluMultiplyOperator : IBinaryOperator
{
    public float Invoke(float x, float y) => x / (1f + MathF.Exp(-x)) * y;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x / (Vector256<float>.One + Vector256.Exp(-x)) * y;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x / (Vector512<float>.One + Vector512.Exp(-x)) * y;
}

/// <summary>x * scale * y (RMSNorm's last pass: normalised value times weight).</summary>
public readonly struct ScaledMultiplyOperator(float scale) : IBinaryOperator
{
    private readonly float _scale = scale;
    public float Invoke(float x, float y) => x * _scale * y;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x * Vector256.Create(_scale) * y;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x * Vector512.Create(_scale) * y;
}

/// <summary>
/// The generic loops: validate, then 512-bit blocks, then 256-bit blocks, then a scalar tail, each stage only when the
/// width type allows it and the hardware accelerates it.
/// </summary>
public static class VectorLoops
{
    /// <summary>destination[i] = op(x[i], y[i]); destination may alias x or y.</summary>
    public static void Binary<TOp, TWidth>(TOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination)
        where TOp : struct, IBinaryOperator where TWidth : struct, IVectorWidth
    {
        if (x.Length != y.Length || destination.Length < x.Length) throw new ArgumentException($"lengths differ: x {x.Length}, y {y.Length}, destination {destination.Length}");
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float dr = ref MemoryMarshal.GetReference(destination);
        int n = x.Length, i = 0;
        if (TWidth.Use512 && Vector512.IsHardwareAccelerated && n >= 16)
            for (; i <= n - 16; i += 16)
                op.Invoke(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        if (TWidth.Use256 && Vector256.IsHardwareAccelerated && n - i >= 8)
            for (; i <= n - 8; i += 8)
                op.Invoke(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref dr, i) = op.Invoke(Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i));
    }

    /// <summary>Sum of x[i]^2 (the scalar stage accumulates in float64).</summary>
    public static float SumOfSquares<TWidth>(ReadOnlySpan<float> x) where TWidth : struct, IVectorWidth
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        double sum = 0;
        if (TWidth.Use512 && Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref xr, (nuint)i);
                acc = Vector512.FusedMultiplyAdd(v, v, acc);
            }
            sum += Vector512.Sum(acc);
        }
        if (TWidth.Use256 && Vector256.IsHardwareAccelerated && n - i >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(v, v, acc);
            }
            sum += Vector256.Sum(acc);
        }
        for (; i < n; i++) { double v = Unsafe.Add(ref xr, i); sum += v * v; }
        return (float)sum;
    }

    /// <summary>residual[i] += x[i], returning the sum of the new residual's squares (one pass for fused add + RMSNorm).</summary>
    public static float AddInPlaceSumOfSquares<TWidth>(ReadOnlySpan<float> x, Span<float> residual) where TWidth : struct, IVectorWidth
    {
        if (x.Length != residual.Length) throw new ArgumentException($"lengths differ: x {x.Length}, residual {residual.Length}");
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float rr = ref MemoryMarshal.GetReference(residual);
        int n = x.Length, i = 0;
        double sum = 0;
        if (TWidth.Use512 && Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref rr, (nuint)i) + Vector512.LoadUnsafe(ref xr, (nuint)i);
                v.StoreUnsafe(ref rr, (nuint)i);
                acc = Vector512.FusedMultiplyAdd(v, v, acc);
            }
            sum += Vector512.Sum(acc);
        }
        if (TWidth.Use256 && Vector256.IsHardwareAccelerated && n - i >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref rr, (nuint)i) + Vector256.LoadUnsafe(ref xr, (nuint)i);
                v.StoreUnsafe(ref rr, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(v, v, acc);
            }
            sum += Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref rr, i) + Unsafe.Add(ref xr, i);
            Unsafe.Add(ref rr, i) = v;
            sum += (double)v * v;
        }
        return (float)sum;
    }
}
