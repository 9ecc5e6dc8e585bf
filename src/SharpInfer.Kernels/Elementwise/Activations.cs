using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Elementwise;

public static class Activations
{
    /// <summary>
    /// SwiGLU's gate: out = silu(gate) * up with silu(x) = x * sigmoid(x) = x / (1 + 2^(-x log2 e)), in one pass with a
    /// polynomial 2^x (relative error ~2e-7): several times faster than TensorPrimitives.Sigmoid, whose exp is
    /// computed the accurate, slow way. <paramref name="output"/> may alias <paramref name="gate"/> or <paramref name="up"/>.
    /// </summary>
    public static void SiluAndMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (up.Length != gate.Length || output.Length < gate.Length) throw new ArgumentException("silu_and_mul: gate, up and output lengths differ");
        int i = 0, n = gate.Length;
        ref float g = ref MemoryMarshal.GetReference(gate);
        ref float u = ref MemoryMarshal.GetReference(up);
        ref float o = ref MemoryMarshal.GetReference(output);
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
            {
                var x = Vector512.LoadUnsafe(ref g, (nuint)i);
                var e = Exp2(x * Vector512.Create(-Log2E));
                (x * Vector512.LoadUnsafe(ref u, (nuint)i) / (Vector512<float>.One + e)).StoreUnsafe(ref o, (nuint)i);
            }
        for (; i < n; i++)
        {
            float x = Unsafe.Add(ref g, i);
            Unsafe.Add(ref o, i) = x * Unsafe.Add(ref u, i) / (1f + MathF.Exp(-x));
        }
    }

    private const float Log2E = 1.44269504088896341f;

    /// <summary>2^x: exact power of two times a degree-6 polynomial of the fraction; 0 below -126, +inf above 128.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp2(Vector512<float> x)
    {
        var clamped = Vector512.Min(Vector512.Max(x, Vector512.Create(-126f)), Vector512.Create(127f));
        var n = Vector512.Round(clamped);
        var f = clamped - n;
        var p = Vector512.Create(1.535336188319500e-4f);
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.339887440266574e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(9.618437357674640e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(5.550332471162809e-2f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(2.402264791363012e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(6.931472028550421e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512<float>.One);
        var result = p * Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        // Beyond the clamp the true value is 0 or overflows: silu then tends to 0 (x very negative) or x (x large).
        result = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-126f)), Vector512<float>.Zero, result);
        return Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(127f)), Vector512.Create(float.PositiveInfinity), result);
    }

    /// <summary>
    /// Softmax in place that subtracts the maximum first (TensorPrimitives.SoftMax does not, and overflows to NaN on
    /// large logits). -inf entries become 0; a row of all -inf becomes all 0.
    /// </summary>
    public static void SoftmaxInPlace(Span<float> values)
    {
        if (values.IsEmpty) return;
        float max = TensorPrimitives.Max(values);
        if (float.IsNegativeInfinity(max)) { values.Clear(); return; }
        TensorPrimitives.Subtract(values, max, values);
        TensorPrimitives.Exp(values, values);
        float sum = TensorPrimitives.Sum(values);
        TensorPrimitives.Divide(values, sum, values);
    }
}
