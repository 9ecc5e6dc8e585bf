using System.Numerics.Tensors;

namespace SharpInfer.Kernels.Elementwise;

public static class Activations
{
    /// <summary>
    /// SwiGLU's gate: out = silu(gate) * up with silu(x) = x * sigmoid(x). <paramref name="up"/> is used as scratch
    /// (it ends holding gate * up) so that out may alias gate without a temporary buffer.
    /// </summary>
    public static void SiluAndMul(ReadOnlySpan<float> gate, Span<float> up, Span<float> output)
    {
        TensorPrimitives.Multiply(up, gate, up);
        TensorPrimitives.Sigmoid(gate, output);
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
