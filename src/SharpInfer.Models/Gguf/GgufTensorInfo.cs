using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Models.Gguf;

/// <summary>One tensor of a GGUF file: its name, shape (innermost dimension first, as ggml writes it), type and place.</summary>
public sealed record GgufTensorInfo(string Name, ulong[] Dimensions, GgmlType Type, ulong Offset, long ByteSize)
{
    public ulong ElementCount
    {
        get { ulong n = 1; foreach (ulong d in Dimensions) n *= d; return n; }
    }

    /// <summary>Shape as people write it, outermost first: a [out, in] matrix prints as "out x in".</summary>
    public string ShapeText => string.Join(" x ", Dimensions.Reverse());
}
