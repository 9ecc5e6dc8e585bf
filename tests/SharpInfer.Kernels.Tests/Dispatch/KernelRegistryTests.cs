using SharpInfer.Kernels.Definitions;
using SharpInfer.Kernels.Dispatch;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Tests.Dispatch;

public class KernelRegistryTests
{
    [Fact]
    public void ResolvePicksTheWidestSupportedIsaPresent()
    {
        var registry = KernelRegistry.CreateDefault();
        var chosen = registry.Resolve("rmsnorm_h576");
        Assert.True(chosen.IsAvailable);
        Assert.Equal(IsaSupport.Best, chosen.Isa);
        Assert.Equal(KernelSolution.SharpInferAuthor, chosen.Author);

        var scalarOnly = KernelRegistry.CreateDefault(isa => isa == Isa.Scalar);
        Assert.Equal("rmsnorm_scalar", scalarOnly.Resolve("rmsnorm_h576").Name);
        Assert.Equal("gemm_q8_0_scalar", scalarOnly.Resolve("gemm_q8_0_n576_k576").Name);
        Assert.Throws<NotSupportedException>(() => scalarOnly.Resolve("gqa_paged_decode_h9_kv3_d64_ps16"));

        var upTo256 = KernelRegistry.CreateDefault(isa => isa != Isa.Avx512);
        Assert.Equal("silu_and_mul_v256", upTo256.Resolve("silu_and_mul_i1536").Name);
    }

    [Fact]
    public void ResolveMatchesWeightTypeAndStyle()
    {
        var registry = KernelRegistry.CreateDefault(isa => isa != Isa.Avx512);
        Assert.Equal("gemm_q4_k_matmul", registry.Resolve(KernelShape.Gemm(64, 512, GgmlType.Q4_K)).Name);
        Assert.Equal("gemm_f32_matmul", registry.Resolve("gemm_n64_k100").Name);
        Assert.Equal("rope_neox_v256", registry.Resolve("rope_neox_d64").Name);
        Assert.Empty(registry.Candidates(KernelShape.Gemm(64, 100, GgmlType.Q4_K))); // K not a multiple of 256
        Assert.Throws<ArgumentException>(() => registry.Resolve("mla_paged_decode_h16_ckv512_kpe64_ps1"));
    }

    [Fact]
    public void TheApplyTableOverridesTheDefaultWhenItsSolutionCanRun()
    {
        var registry = KernelRegistry.CreateDefault();
        registry.ApplyTable = new Dictionary<string, string>
        {
            ["rmsnorm_h576"] = "rmsnorm_scalar",
            ["rmsnorm_h2048"] = "no_such_solution",
            ["silu_and_mul_i1536"] = "rmsnorm_scalar", // another op's solution: ignored
        };
        Assert.Equal("rmsnorm_scalar", registry.Resolve("rmsnorm_h576").Name);
        Assert.Equal(registry.Runnable(KernelShape.RmsNorm(2048))[0], registry.Resolve("rmsnorm_h2048"));
        Assert.StartsWith("silu_and_mul_", registry.Resolve("silu_and_mul_i1536").Name);
        registry.ApplyTable = new Dictionary<string, string>();
        Assert.Equal(registry.Runnable(KernelShape.RmsNorm(576))[0], registry.Resolve("rmsnorm_h576")); // cache cleared
    }

    [Fact]
    public void EveryOperatorHasASolutionAndNamesAreUnique()
    {
        var registry = KernelRegistry.Default;
        foreach (var op in Enum.GetValues<OpKind>().Where(o => o != OpKind.GqaRaggedPrefill))
            Assert.NotEmpty(registry.Solutions(op));
        Assert.Equal(registry.All.Count, registry.All.Select(s => s.Name).Distinct().Count());
    }
}
