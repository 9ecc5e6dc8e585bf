using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Sampling;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Dispatch;

// One delegate type per operator: what every solution of that operator implements. Called once per op (never per
// element); buffers belong to the caller.

/// <summary>x, y [rows, hidden] (rows = x.Length / weight.Length), weight [hidden]; y may alias x.</summary>
public delegate void RmsNormKernel(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y);

/// <summary>residual += x; y = rmsnorm(residual). x, residual, y [rows, hidden]; weight [hidden].</summary>
public delegate void FusedAddRmsNormKernel(ReadOnlySpan<float> x, Span<float> residual, ReadOnlySpan<float> weight, float eps, Span<float> y);

/// <summary>output = silu(gate) * up, all [tokens, intermediate]; output must not alias gate or up.</summary>
public delegate void SiluAndMulKernel(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output);

/// <summary>In place over x [tokens, heads, headDim]; cosSinCache [maxSeq, headDim] (cos half, sin half); positions [tokens]. The style is the solution's.</summary>
public delegate void RopeKernel(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cosSinCache, ReadOnlySpan<int> positions);

/// <summary>C [m, N] = A [m, K] @ B.T for B [N, K] stored in its ggml type.</summary>
public unsafe delegate void GemmKernel(KernelContext context, in WeightMatrix b, float* a, float* c, int m);

/// <summary>
/// Causal GQA over one layer of a paged KV cache (HND storage), decode (one query per request) or prefill.
/// q, output [totalQ, qoHeads, headDim]; qoIndptr [B + 1].
/// </summary>
public unsafe delegate void GqaPagedKernel(KernelContext context, PagedKvCache cache, int layer, PageTable table, int[] qoIndptr, int qoHeads, float* q, float* output, float smScale);

/// <summary>One draw from probs [vocab] after top-k, top-p, min-p; uniform in [0, 1).</summary>
public delegate int SamplingKernel(ReadOnlySpan<float> probs, int topK, float topP, float minP, double uniform, SamplingScratch scratch);

/// <summary>
/// The per-pool state that stateful solutions reuse between calls (a MatMul, a PagedAttention, ...): one per worker
/// pool, owned by the caller (the engine or the bench). Not thread-safe: one op at a time, as the pool runs them.
/// </summary>
public sealed class KernelContext(WorkerPool pool)
{
    private MatMul? _matMul;
    private PagedAttention? _attention;
    private ScalarGemm? _scalarGemm;

    public WorkerPool Pool { get; } = pool;
    private MatMul? _integerMatMul;
    /// <summary>Float activations for every weight type.</summary>
    internal MatMul MatMul => _matMul ??= new MatMul(Pool) { QuantizeActivations = false };
    /// <summary>Int8 activations with Q8_0/Q4_0/Q4_K/Q6_K weights, whatever the token count.</summary>
    internal MatMul IntegerMatMul => _integerMatMul ??= new MatMul(Pool) { QuantizeActivations = true, IntegerPathMaxTokens = int.MaxValue };
    internal PagedAttention Attention => _attention ??= new PagedAttention(Pool);
    internal ScalarGemm ScalarGemm => _scalarGemm ??= new ScalarGemm(Pool);
}
