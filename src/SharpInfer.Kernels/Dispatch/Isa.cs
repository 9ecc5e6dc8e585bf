using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels.Dispatch;

/// <summary>The instruction set a solution is written for (its <c>target_hardware</c>), ordered by preference.</summary>
public enum Isa
{
    /// <summary>Plain scalar C#: runs everywhere.</summary>
    Scalar = 0,
    /// <summary>256-bit vectors (Vector256: AVX2 + FMA on x64).</summary>
    Avx2 = 1,
    /// <summary>512-bit vectors (Vector512: AVX-512F on x64).</summary>
    Avx512 = 2,
}

public static class IsaSupport
{
    /// <summary>Whether this process can run code written for <paramref name="isa"/> at full speed.</summary>
    public static bool IsAvailable(Isa isa) => isa switch
    {
        Isa.Scalar => true,
        Isa.Avx2 => Vector256.IsHardwareAccelerated && (!X86Base.IsSupported || (Avx2.IsSupported && Fma.IsSupported)),
        Isa.Avx512 => Vector512.IsHardwareAccelerated && (!X86Base.IsSupported || Avx512F.IsSupported),
        _ => false,
    };

    /// <summary>The widest available ISA.</summary>
    public static Isa Best => IsAvailable(Isa.Avx512) ? Isa.Avx512 : IsAvailable(Isa.Avx2) ? Isa.Avx2 : Isa.Scalar;

    /// <summary>"scalar", "avx2" or "avx512": the name used in solution metadata.</summary>
    public static string Name(this Isa isa) => isa switch { Isa.Avx2 => "avx2", Isa.Avx512 => "avx512", _ => "scalar" };

    /// <summary>The ISAs available here, e.g. "avx512 avx2 scalar".</summary>
    public static string Describe() => string.Join(' ', new[] { Isa.Avx512, Isa.Avx2, Isa.Scalar }.Where(IsAvailable).Select(Name));
}
