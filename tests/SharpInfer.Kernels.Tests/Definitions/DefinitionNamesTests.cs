using SharpInfer.Kernels.Definitions;
using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Tests;

namespace SharpInfer.Kernels.Tests.Definitions;

public class DefinitionNamesTests
{
    [Fact]
    public void NamesAreSpelledAsFlashInferTraceSpellsThem()
    {
        Assert.Equal("gqa_paged_decode_h32_kv8_d128_ps1", DefinitionNames.GqaPagedDecode(32, 8, 128, 1));
        Assert.Equal("gqa_paged_prefill_causal_h32_kv8_d128_ps64", DefinitionNames.GqaPagedPrefill(32, 8, 128, 64));
        Assert.Equal("gqa_ragged_prefill_causal_h32_kv8_d128", DefinitionNames.GqaRaggedPrefill(32, 8, 128));
        Assert.Equal("gemm_n4096_k4096", DefinitionNames.Gemm(4096, 4096));
        Assert.Equal("gemm_q8_0_n1536_k576", DefinitionNames.Gemm(1536, 576, GgmlType.Q8_0));
        Assert.Equal("gemm_q4_k_n256_k2048", DefinitionNames.Gemm(256, 2048, GgmlType.Q4_K));
        Assert.Equal("fused_add_rmsnorm_h4096", DefinitionNames.FusedAddRmsNorm(4096));
        Assert.Equal("rmsnorm_h576", DefinitionNames.RmsNorm(576));
        Assert.Equal("silu_and_mul_i1536", DefinitionNames.SiluAndMul(1536));
        Assert.Equal("rope_neox_d64", DefinitionNames.Rope(RopeStyle.NeoX, 64));
        Assert.Equal("rope_interleaved_d128", DefinitionNames.Rope(RopeStyle.Interleaved, 128));
        Assert.Equal("top_k_top_p_sampling_from_probs_v128256", DefinitionNames.Sampling(128256));
    }

    [Theory]
    [InlineData("gemm_n4096_k4096")]
    [InlineData("gemm_bf16_n576_k576")]
    [InlineData("gemm_q6_k_n49152_k576")]
    [InlineData("rmsnorm_h576")]
    [InlineData("fused_add_rmsnorm_h2048")]
    [InlineData("silu_and_mul_i5632")]
    [InlineData("rope_interleaved_d64")]
    [InlineData("gqa_paged_decode_h9_kv3_d64_ps16")]
    [InlineData("gqa_paged_prefill_causal_h32_kv4_d64_ps1")]
    [InlineData("gqa_ragged_prefill_causal_h6_kv1_d128")]
    [InlineData("top_k_top_p_sampling_from_probs_v49152")]
    public void NamesParseBackAndGenerateAConsistentDefinition(string name)
    {
        var shape = DefinitionNames.Parse(name);
        Assert.Equal(name, shape.Name);
        var d = KernelDefinitions.Create(shape);
        Assert.Equal(name, d.Name);
        Assert.Equal(d, TraceJson.ReadDefinition(TraceJson.Write(d))); // valid: every shape axis exists, round-trips
    }

    [Theory]
    [InlineData("gemm_q5_0_n1_k32")]
    [InlineData("gqa_paged_decode_h32_kv8_d128")]
    [InlineData("gqa_ragged_prefill_causal_h32_kv8_d128_ps1")]
    [InlineData("rmsnorm_h0")]
    [InlineData("mla_paged_decode_h16_ckv512_kpe64_ps1")]
    [InlineData("rmsnorm_h99999999999")]
    public void OtherNamesAreNotOurs(string name) => Assert.Null(DefinitionNames.TryParse(name));

    [Theory]
    [InlineData("rmsnorm_h4096", "bfloat16")]
    [InlineData("rmsnorm_h512", "bfloat16")]
    [InlineData("fused_add_rmsnorm_h2048", "bfloat16")]
    [InlineData("gemm_n4096_k4096", "float16")]
    [InlineData("gemm_n128_k2048", "float16")]
    [InlineData("gqa_paged_decode_h32_kv8_d128_ps1", "bfloat16")]
    [InlineData("gqa_paged_decode_h32_kv4_d128_ps64", "bfloat16")]
    [InlineData("gqa_paged_prefill_causal_h32_kv8_d128_ps1", "bfloat16")]
    [InlineData("gqa_paged_prefill_causal_h32_kv4_d128_ps64", "bfloat16")]
    [InlineData("gqa_ragged_prefill_causal_h32_kv8_d128", "bfloat16")]
    [InlineData("top_k_top_p_sampling_from_probs_v128256", "float32")]
    public void GeneratedDefinitionsMatchTheDatasetsOfTheSameName(string name, string dtype)
    {
        string? folder = TestEnvironment.SharedFolder("flashinfer_trace", "definitions");
        if (folder == null) return;
        var dataset = DefinitionLoader.LoadDirectory(folder).Single(d => d.Name == name);
        var generated = KernelDefinitions.Create(name, dtype);
        Assert.True(generated.SameSignature(dataset), $"{name}:\n{TraceJson.Write(generated)}\nvs\n{TraceJson.Write(dataset)}");
        Assert.Equal(dataset.Inputs.Keys, generated.Inputs.Keys);
        Assert.Equal(dataset.Axes.Keys.Order(), generated.Axes.Keys.Order());
    }
}
