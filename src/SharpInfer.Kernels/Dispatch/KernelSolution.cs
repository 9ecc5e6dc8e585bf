using SharpInfer.Kernels.Definitions;

namespace SharpInfer.Kernels.Dispatch;

/// <summary>
/// One compiled-in implementation of an operator: its metadata (name, author, target ISA, which shapes it supports)
/// and its kernel, a delegate of the operator's signature (<see cref="RmsNormKernel"/>, <see cref="GemmKernel"/>, ...).
/// </summary>
public sealed class KernelSolution
{
    public const string SharpInferAuthor = "sharpinfer";

    public string Name { get; }
    public OpKind Op { get; }
    public Isa Isa { get; }
    public string Author { get; init; } = SharpInferAuthor;
    public string Description { get; init; } = "";
    /// <summary>
    /// The solution multiplies int8-quantized activations (gemm over Q8_0/Q4_0/Q4_K/Q6_K): it is judged against a float64
    /// reference that quantizes the activations the same way.
    /// </summary>
    public bool QuantizesActivations { get; init; }
    /// <summary>Breaks ties between solutions of the same ISA (higher wins).</summary>
    public int Priority { get; init; }
    /// <summary>The delegate; see <see cref="Get{T}"/>.</summary>
    public Delegate Kernel { get; }
    private readonly Func<KernelShape, bool> _supports;

    public KernelSolution(string name, OpKind op, Isa isa, Delegate kernel, Func<KernelShape, bool>? supports = null)
    {
        Name = name; Op = op; Isa = isa; Kernel = kernel; _supports = supports ?? (_ => true);
    }

    /// <summary>Whether this solution computes the given definition (same op and a shape it handles).</summary>
    public bool Supports(KernelShape shape) => shape.Op == Op && _supports(shape);

    /// <summary>Whether it can run on this machine.</summary>
    public bool IsAvailable => IsaSupport.IsAvailable(Isa);

    public T Get<T>() where T : Delegate =>
        Kernel as T ?? throw new InvalidOperationException($"solution {Name} is a {Kernel.GetType().Name}, not a {typeof(T).Name}");

    /// <summary>The solution as a FlashInfer Trace solution record (compiled-in C#: no sources are listed).</summary>
    public Solution ToSolution(string definition) => new()
    {
        Name = Name,
        Definition = definition,
        Author = Author,
        Description = Description.Length == 0 ? null : Description,
        Spec = new SolutionSpec
        {
            Language = "csharp",
            TargetHardware = [$"cpu:{Isa.Name()}"],
            EntryPoint = $"SharpInfer.Kernels.dll::{Kernel.Method.DeclaringType?.Name}.{Kernel.Method.Name}",
            DestinationPassingStyle = true,
        },
    };

    public override string ToString() => $"{Name} ({Isa.Name()})";
}
