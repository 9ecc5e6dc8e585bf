using SharpInfer.Kernels.Definitions;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Sampling;

namespace SharpInfer.Kernels.Dispatch;

/// <summary>Registers SharpInfer's solutions of every operator. Names are "{op}_{variant}".</summary>
internal static unsafe class BuiltInSolutions
{
    public static KernelRegistry Register(KernelRegistry r)
    {
        // rmsnorm / fused_add_rmsnorm / silu_and_mul: explicit scalar, Vector256 and Vector512 solutions of one loop,
        // plus the engine's TensorPrimitives-based kernels (TensorPrimitives picks its own width).
        r.Register(new("rmsnorm_scalar", OpKind.RmsNorm, Isa.Scalar, new RmsNormKernel(ElementwiseSolutions<ScalarWidth>.RmsNorm)) { Description = "Scalar loop, float64 sum of squares." });
        r.Register(new("rmsnorm_v256", OpKind.RmsNorm, Isa.Avx2, new RmsNormKernel(ElementwiseSolutions<Width256>.RmsNorm)) { Description = "Vector256 loop." });
        r.Register(new("rmsnorm_v512", OpKind.RmsNorm, Isa.Avx512, new RmsNormKernel(ElementwiseSolutions<Width512>.RmsNorm)) { Description = "Vector512 loop, Vector256 then scalar tails." });
        r.Register(new("rmsnorm_tensorprimitives", OpKind.RmsNorm, Isa.Avx2, new RmsNormKernel(TensorPrimitivesRmsNorm)) { Description = "Norms.RmsNorm (TensorPrimitives) per row.", Priority = -1 });

        r.Register(new("fused_add_rmsnorm_scalar", OpKind.FusedAddRmsNorm, Isa.Scalar, new FusedAddRmsNormKernel(ElementwiseSolutions<ScalarWidth>.FusedAddRmsNorm)) { Description = "Scalar loop; add and sum of squares in one pass." });
        r.Register(new("fused_add_rmsnorm_v256", OpKind.FusedAddRmsNorm, Isa.Avx2, new FusedAddRmsNormKernel(ElementwiseSolutions<Width256>.FusedAddRmsNorm)) { Description = "Vector256; add and sum of squares in one pass." });
        r.Register(new("fused_add_rmsnorm_v512", OpKind.FusedAddRmsNorm, Isa.Avx512, new FusedAddRmsNormKernel(ElementwiseSolutions<Width512>.FusedAddRmsNorm)) { Description = "Vector512; add and sum of squares in one pass." });
        r.Register(new("fused_add_rmsnorm_tensorprimitives", OpKind.FusedAddRmsNorm, Isa.Avx2, new FusedAddRmsNormKernel(TensorPrimitivesFusedAddRmsNorm)) { Description = "Norms.FusedAddRmsNorm (TensorPrimitives) per row.", Priority = -1 });

        r.Register(new("silu_and_mul_scalar", OpKind.SiluAndMul, Isa.Scalar, new SiluAndMulKernel(ElementwiseSolutions<ScalarWidth>.SiluAndMul)) { Description = "Scalar loop, MathF.Exp." });
        r.Register(new("silu_and_mul_v256", OpKind.SiluAndMul, Isa.Avx2, new SiluAndMulKernel(ElementwiseSolutions<Width256>.SiluAndMul)) { Description = "Vector256.Exp, one pass." });
        r.Register(new("silu_and_mul_v512", OpKind.SiluAndMul, Isa.Avx512, new SiluAndMulKernel(ElementwiseSolutions<Width512>.SiluAndMul)) { Description = "Vector512.Exp, one pass." });
        r.Register(new("silu_and_mul_tensorprimitives", OpKind.SiluAndMul, Isa.Avx2, new SiluAndMulKernel(TensorPrimitivesSiluAndMul)) { Description = "TensorPrimitives Sigmoid and Multiply (three passes).", Priority = -1 });
        r.Register(new("silu_and_mul_poly512", OpKind.SiluAndMul, Isa.Avx512, new SiluAndMulKernel(Elementwise.Activations.SiluAndMul)) { Description = "One pass, polynomial 2^x (Activations.SiluAndMul, what the model runs)." });

        // rope: one family per style.
        foreach (var style in new[] { RopeStyle.Interleaved, RopeStyle.NeoX })
        {
            string p = $"rope_{DefinitionNames.StyleName(style)}";
            bool Supports(KernelShape s) => s.RopeStyle == style && s["head_dim"] % 2 == 0;
            bool neox = style == RopeStyle.NeoX;
            r.Register(new($"{p}_scalar", OpKind.Rope, Isa.Scalar, neox ? new RopeKernel(ElementwiseSolutions<ScalarWidth>.RopeNeoX) : new RopeKernel(ElementwiseSolutions<ScalarWidth>.RopeInterleaved), Supports) { Description = "Scalar loop." });
            r.Register(new($"{p}_v256", OpKind.Rope, Isa.Avx2, neox ? new RopeKernel(ElementwiseSolutions<Width256>.RopeNeoX) : new RopeKernel(ElementwiseSolutions<Width256>.RopeInterleaved), Supports) { Description = neox ? "Vector256 over the two halves." : "Vector256 with pair swaps and expanded cos/sin." });
            r.Register(new($"{p}_v512", OpKind.Rope, Isa.Avx512, neox ? new RopeKernel(ElementwiseSolutions<Width512>.RopeNeoX) : new RopeKernel(ElementwiseSolutions<Width512>.RopeInterleaved), Supports) { Description = neox ? "Vector512 over the two halves." : "Vector512 with pair swaps and expanded cos/sin." });
        }

        // gemm: per weight type, the engine's MatMul (RowDot, Vector256) and a scalar dequantize-then-dot.
        foreach (var type in GgmlTypeInfo.All)
        {
            string t = DefinitionNames.TypeName(type);
            bool Supports(KernelShape s) => s.WeightType == type && s["K"] % GgmlTypeInfo.BlockSize(type) == 0;
            r.Register(new($"gemm_{t}_matmul", OpKind.Gemm, Isa.Avx2, new GemmKernel(MatMulGemm), Supports) { Description = $"MatMul.Run: RowDot over {t} rows for one token, dequantize-once rows for several." });
            r.Register(new($"gemm_{t}_scalar", OpKind.Gemm, Isa.Scalar, new GemmKernel(ScalarGemmKernel), Supports) { Description = "Dequantize each row, then scalar dot products." });
            if (IntegerDot.IsSupported(type))
                r.Register(new($"gemm_{t}_int8", OpKind.Gemm, Isa.Avx2, new GemmKernel(IntegerGemm), Supports)
                {
                    Description = "Activations quantized to int8 blocks; a prepared matrix of whole 16-row groups (PreparedWeights) takes vpdpbusd over its column-quad copy (AVX512-VNNI machine code, Linux x64) or 16-bit multiply-adds over its column-pair copy (AVX-512BW), others maddubs/madd integer dots (AVX-512BW, AVX2, scalar).",
                    QuantizesActivations = true,
                    Priority = 1, // what the engine runs for decode
                });
            else if (KQuantDot.IsSupported(type))
                r.Register(new($"gemm_{t}_int8", OpKind.Gemm, Isa.Avx512, new GemmKernel(IntegerGemm), Supports)
                {
                    Description = "Activations quantized to int8 blocks of 256 (Q8_K); a prepared matrix of whole 16-row groups takes vpdpbusd over its interleaved copy (AVX512-VNNI machine code, Linux x64), others unpack super-blocks to unsigned 4/6-bit values for maddubs, vpmaddwd by the sub-block scales (AVX-512BW, KQuantDot).",
                    QuantizesActivations = true,
                    Priority = 1,
                });
        }

        // attention: the engine's PagedAttention (BatchAttention with the causal mask over HND pages), decode and prefill.
        r.Register(new("gqa_paged_decode_pagedattention", OpKind.GqaPagedDecode, Isa.Avx2, new GqaPagedKernel(PagedAttentionKernel), GroupedHeads) { Description = "PagedAttention.Plan + Run (one query per request); no lse output." });
        r.Register(new("gqa_paged_prefill_pagedattention", OpKind.GqaPagedPrefill, Isa.Avx2, new GqaPagedKernel(PagedAttentionKernel), GroupedHeads) { Description = "PagedAttention.Plan + Run, causal (bottom-right); no lse output." });

        r.Register(new("sampling_heap_scalar", OpKind.Sampling, Isa.Scalar, new SamplingKernel(ProbabilitySampling.TopKTopPMinP)) { Description = "Bounded heap for top-k (full sort without it), then top-p and min-p on the sorted prefix." });
        return r;
    }

    private static bool GroupedHeads(KernelShape s) => s["num_qo_heads"] % s["num_kv_heads"] == 0;

    private static void TensorPrimitivesRmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int h = weight.Length;
        if (h == 0 || x.Length % h != 0) throw new ArgumentException($"rmsnorm: x {x.Length} is not rows of weight {h}");
        for (int r = 0; r < x.Length; r += h) Norms.RmsNorm(x.Slice(r, h), weight, eps, y.Slice(r, h));
    }

    private static void TensorPrimitivesFusedAddRmsNorm(ReadOnlySpan<float> x, Span<float> residual, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int h = weight.Length;
        if (h == 0 || x.Length % h != 0) throw new ArgumentException($"fused_add_rmsnorm: x {x.Length} is not rows of weight {h}");
        for (int r = 0; r < x.Length; r += h) Norms.FusedAddRmsNorm(x.Slice(r, h), residual.Slice(r, h), weight, eps, y.Slice(r, h));
    }

    private static void TensorPrimitivesSiluAndMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        // Keeps up intact: output = sigmoid(gate) * gate * up.
        System.Numerics.Tensors.TensorPrimitives.Sigmoid(gate, output);
        System.Numerics.Tensors.TensorPrimitives.Multiply(output, gate, output);
        System.Numerics.Tensors.TensorPrimitives.Multiply(output, up, output);
    }

    private static void MatMulGemm(KernelContext context, in WeightMatrix b, float* a, float* c, int m) => context.MatMul.Run(b, a, c, m);

    private static void IntegerGemm(KernelContext context, in WeightMatrix b, float* a, float* c, int m) => context.IntegerMatMul.Run(b, a, c, m);

    private static void ScalarGemmKernel(KernelContext context, in WeightMatrix b, float* a, float* c, int m) => context.ScalarGemm.Run(b, a, c, m);

    private static void PagedAttentionKernel(KernelContext context, Attention.PagedKvCache cache, int layer, Attention.PageTable table, int[] qoIndptr, int qoHeads, float* q, float* output, float smScale)
    {
        context.Attention.Plan(qoIndptr, table, qoHeads);
        context.Attention.Run(cache, layer, q, output, smScale);
    }
}
