using System.Numerics.Tensors;

namespace SharpInfer.Kernels.Elementwise;

public static class Activations
{
    /// <summary>SwiGLU's gate: out = silu(gate) * up, silu(x) = x * sigmoid(x). out may alias gate.</summary>
    public static void SiluAndMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        TensorPrimitives.Sigmoid(gate, output);
        TensorPrimitives.Multiply(output, gate, output);
        TensorPrimitives.Multiply(output, up, output);
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
