using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense.Native;

/// <summary>
/// The AVX-512 VNNI kernels of interleaved Q8_0/Q4_0 groups (interleaved_vnni.S, assembled into
/// <see cref="InterleavedVnniCode"/>), mapped executable once and called through unmanaged function pointers.
/// <para>
/// Why machine code: .NET 10 exposes no AVX512-VNNI intrinsics (its <c>AvxVnni</c> is the VEX form, which Zen 4 and
/// most AVX-512 parts lack), and vpdpbusd does 64 int8 multiply-adds per instruction against 32 for the vpmaddwd +
/// vpaddd pair the managed kernels use. A scratch benchmark of the two loops on the 2-core Zen 4 reference machine,
/// one thread, 8 tokens: 155-171 against 70-88 G multiply-adds/s at 1536 x 576 and 576 x 1536.
/// </para>
/// <para>
/// Used when the processor reports AVX512-VNNI (CPUID leaf 7, ECX bit 11) with AVX-512BW, the process is Linux x64
/// (System V calls), and SHARPINFER_NATIVE_KERNELS is not 0; otherwise the managed 16-bit kernels run. One call is
/// one group of 16 rows; it never blocks and never calls back, and calls of up to 64 tokens (microseconds) skip the GC
/// transition.
/// </para>
/// </summary>
internal static unsafe class InterleavedVnni
{
    /// <summary>One call's arguments; field offsets as the .S file's <c>.set</c> lines.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Call
    {
        public byte* Weights;      // the group's interleaved quads: blocks x (512 Q8_0 | 256 Q4_0) bytes
        public ushort* Scales;     // the group's f16 block scales: blocks x 16
        public sbyte* X;           // [chunks][blocks][8][32] int8 activations
        public int* NegatedSums;   // [chunks][blocks][8] minus each activation block's sum
        public float* XScales;     // [chunks][blocks][8] activation block scales
        public float* Y;           // the first token's 16 outputs
        public long YStride;       // bytes between tokens' outputs
        public long Blocks;
        public long Tokens;
        public byte* Prefetch;     // the next group's weights, or null
    }

    // The entry points. Calls skip the GC transition (a few tens of ns) when they are short; a call with many tokens
    // (a long prompt: ~0.1-1 ms) takes it, so that a collection never waits on one.
    private static readonly byte* s_q8_0, s_q4_0, s_q4_k, s_q6_k;
    private const long LongCallTokens = 64;

    /// <summary>Why the kernels are not in use here, or null when they are.</summary>
    public static string? Unavailable { get; }

    /// <summary>Whether the VNNI kernels run in this process.</summary>
    public static bool IsAvailable => s_q8_0 != null;

    static InterleavedVnni()
    {
        if (Environment.GetEnvironmentVariable("SHARPINFER_NATIVE_KERNELS") == "0") { Unavailable = "SHARPINFER_NATIVE_KERNELS=0"; return; }
        if (!Avx512BW.IsSupported || !X86Base.IsSupported) { Unavailable = "no AVX-512BW"; return; }
        if ((X86Base.CpuId(7, 0).Ecx & (1 << 11)) == 0) { Unavailable = "the processor has no AVX512-VNNI"; return; }
        byte* code = ExecutableMemory.TryMap(InterleavedVnniCode.Bytes, out string? failure);
        if (code == null) { Unavailable = failure; return; }
        s_q8_0 = code + InterleavedVnniCode.VnniQ8_0;
        s_q4_0 = code + InterleavedVnniCode.VnniQ4_0;
        s_q4_k = code + InterleavedVnniCode.VnniQ4K;
        s_q6_k = code + InterleavedVnniCode.VnniQ6K;
    }

    private static void Invoke(byte* entry, Call* call)
    {
        if (call->Tokens > LongCallTokens) ((delegate* unmanaged<Call*, void>)entry)(call);
        else ((delegate* unmanaged[SuppressGCTransition]<Call*, void>)entry)(call);
    }

    /// <summary>
    /// Runs one Q4_K or Q6_K group (<see cref="InterleavedGemm.InterleaveKQuant"/>): Weights the group's super-blocks,
    /// NegatedSums the activations' block sums (Q4_K: per 32 values, not negated; Q6_K: -32 x the sum per 16 values),
    /// XScales their super-block scales, Blocks the super-blocks. The kernel counts Tokens down to 0.
    /// </summary>
    public static void RunKQuant(GgmlType type, Call* call)
    {
        if (!IsAvailable) throw new InvalidOperationException($"the VNNI kernels are not available: {Unavailable}");
        if (type == GgmlType.Q4_K) Invoke(s_q4_k, call);
        else if (type == GgmlType.Q6_K) Invoke(s_q6_k, call);
        else throw new ArgumentException($"no VNNI super-block kernel for {type}");
    }

    /// <summary>Runs one group: <paramref name="q4"/> picks the Q4_0 kernel, else Q8_0.</summary>
    public static void Run(bool q4, Call* call)
    {
        if (!IsAvailable) throw new InvalidOperationException($"the VNNI kernels are not available: {Unavailable}");
        Invoke(q4 ? s_q4_0 : s_q8_0, call);
    }
}
