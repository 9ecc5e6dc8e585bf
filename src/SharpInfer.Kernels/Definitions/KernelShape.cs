using System.Globalization;
using System.Text.RegularExpressions;
using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Definitions;

/// <summary>The operators the engine calls, one per definition family.</summary>
public enum OpKind
{
    Gemm,
    RmsNorm,
    FusedAddRmsNorm,
    SiluAndMul,
    Rope,
    GqaPagedDecode,
    GqaPagedPrefill,
    GqaRaggedPrefill,
    Sampling,
}

/// <summary>
/// An operator and the constants that its definition name encodes (the const axes, plus the weight type of a gemm and
/// the style of a rope). <see cref="Name"/> is the definition name; <see cref="DefinitionNames.Parse"/> goes back.
/// </summary>
public sealed record KernelShape
{
    public OpKind Op { get; }
    /// <summary>Const axis name -> value, named as the definition names them (N, K, hidden_size, num_qo_heads, ...).</summary>
    public IReadOnlyDictionary<string, long> Axes { get; }
    /// <summary>Stored type of a gemm's weight matrix B (F32 for the other ops).</summary>
    public GgmlType WeightType { get; }
    /// <summary>Pairing of a rope (Interleaved for the other ops).</summary>
    public RopeStyle RopeStyle { get; }
    public string Name { get; }

    private KernelShape(OpKind op, GgmlType weightType, RopeStyle ropeStyle, params (string Axis, long Value)[] axes)
    {
        foreach (var (axis, value) in axes)
            if (value <= 0) throw new ArgumentOutOfRangeException(axis, value, $"{op}: axis {axis} must be positive");
        Op = op; WeightType = weightType; RopeStyle = ropeStyle;
        Axes = axes.ToDictionary(a => a.Axis, a => a.Value);
        Name = DefinitionNames.For(this);
    }

    public long this[string axis] => Axes.TryGetValue(axis, out long v) ? v : throw new KeyNotFoundException($"{Name} has no axis '{axis}'");

    public static KernelShape Gemm(int n, int k, GgmlType weightType = GgmlType.F32) => new(OpKind.Gemm, weightType, default, ("N", n), ("K", k));
    public static KernelShape RmsNorm(int hiddenSize) => new(OpKind.RmsNorm, default, default, ("hidden_size", hiddenSize));
    public static KernelShape FusedAddRmsNorm(int hiddenSize) => new(OpKind.FusedAddRmsNorm, default, default, ("hidden_size", hiddenSize));
    public static KernelShape SiluAndMul(int intermediateSize) => new(OpKind.SiluAndMul, default, default, ("intermediate_size", intermediateSize));
    public static KernelShape Rope(RopeStyle style, int headDim) => new(OpKind.Rope, default, style, ("head_dim", headDim));
    public static KernelShape GqaPagedDecode(int qoHeads, int kvHeads, int headDim, int pageSize) =>
        new(OpKind.GqaPagedDecode, default, default, ("num_qo_heads", qoHeads), ("num_kv_heads", kvHeads), ("head_dim", headDim), ("page_size", pageSize));
    public static KernelShape GqaPagedPrefill(int qoHeads, int kvHeads, int headDim, int pageSize) =>
        new(OpKind.GqaPagedPrefill, default, default, ("num_qo_heads", qoHeads), ("num_kv_heads", kvHeads), ("head_dim", headDim), ("page_size", pageSize));
    public static KernelShape GqaRaggedPrefill(int qoHeads, int kvHeads, int headDim) =>
        new(OpKind.GqaRaggedPrefill, default, default, ("num_qo_heads", qoHeads), ("num_kv_heads", kvHeads), ("head_dim", headDim));
    public static KernelShape Sampling(int vocabSize) => new(OpKind.Sampling, default, default, ("vocab_size", vocabSize));

    public bool Equals(KernelShape? other) => other is not null && Name == other.Name;
    public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);
    public override string ToString() => Name;
}

/// <summary>
/// Definition names as FlashInfer Trace spells them, and SharpInfer's names where the dataset has no convention yet:
/// <list type="bullet">
/// <item><c>gemm_n{N}_k{K}</c> (dataset): C = A @ B.T with B stored in the activations' dtype. SharpInfer's weights in
/// another ggml type insert the type: <c>gemm_{type}_n{N}_k{K}</c> with type one of f16, bf16, q8_0, q4_0, q4_k, q6_k
/// (A and C stay float32; B's dtype is the ggml type name, a SharpInfer extension of the dtype list).</item>
/// <item><c>rmsnorm_h{H}</c>, <c>fused_add_rmsnorm_h{H}</c> (dataset).</item>
/// <item><c>gqa_paged_decode_h{Hq}_kv{Hkv}_d{D}_ps{P}</c>, <c>gqa_paged_prefill_causal_h{Hq}_kv{Hkv}_d{D}_ps{P}</c>,
/// <c>gqa_ragged_prefill_causal_h{Hq}_kv{Hkv}_d{D}</c> (dataset).</item>
/// <item><c>top_k_top_p_sampling_from_probs_v{V}</c> (dataset).</item>
/// <item><c>silu_and_mul_i{I}</c> (SharpInfer): out = silu(gate) * up over [num_tokens, I], gate and up as two tensors.</item>
/// <item><c>rope_{interleaved|neox}_d{D}</c> (SharpInfer): RoPE over the whole head (rotary dim = D) from a cos/sin
/// cache; the dataset's only rope is <c>rope_with_cos_sin_cache_neox_style_d128_rd64</c> (partial rotary dim).</item>
/// </list>
/// </summary>
public static partial class DefinitionNames
{
    public static string Gemm(int n, int k, GgmlType weightType = GgmlType.F32) =>
        weightType == GgmlType.F32 ? $"gemm_n{n}_k{k}" : $"gemm_{TypeName(weightType)}_n{n}_k{k}";
    public static string RmsNorm(int hiddenSize) => $"rmsnorm_h{hiddenSize}";
    public static string FusedAddRmsNorm(int hiddenSize) => $"fused_add_rmsnorm_h{hiddenSize}";
    public static string SiluAndMul(int intermediateSize) => $"silu_and_mul_i{intermediateSize}";
    public static string Rope(RopeStyle style, int headDim) => $"rope_{StyleName(style)}_d{headDim}";
    public static string GqaPagedDecode(int qoHeads, int kvHeads, int headDim, int pageSize) => $"gqa_paged_decode_h{qoHeads}_kv{kvHeads}_d{headDim}_ps{pageSize}";
    public static string GqaPagedPrefill(int qoHeads, int kvHeads, int headDim, int pageSize) => $"gqa_paged_prefill_causal_h{qoHeads}_kv{kvHeads}_d{headDim}_ps{pageSize}";
    public static string GqaRaggedPrefill(int qoHeads, int kvHeads, int headDim) => $"gqa_ragged_prefill_causal_h{qoHeads}_kv{kvHeads}_d{headDim}";
    public static string Sampling(int vocabSize) => $"top_k_top_p_sampling_from_probs_v{vocabSize}";

    /// <summary>ggml's lower-case type name: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k.</summary>
    public static string TypeName(GgmlType type) => type.ToString().ToLowerInvariant();
    public static string StyleName(RopeStyle style) => style == RopeStyle.NeoX ? "neox" : "interleaved";

    internal static string For(KernelShape s) => s.Op switch
    {
        OpKind.Gemm => Gemm(I(s, "N"), I(s, "K"), s.WeightType),
        OpKind.RmsNorm => RmsNorm(I(s, "hidden_size")),
        OpKind.FusedAddRmsNorm => FusedAddRmsNorm(I(s, "hidden_size")),
        OpKind.SiluAndMul => SiluAndMul(I(s, "intermediate_size")),
        OpKind.Rope => Rope(s.RopeStyle, I(s, "head_dim")),
        OpKind.GqaPagedDecode => GqaPagedDecode(I(s, "num_qo_heads"), I(s, "num_kv_heads"), I(s, "head_dim"), I(s, "page_size")),
        OpKind.GqaPagedPrefill => GqaPagedPrefill(I(s, "num_qo_heads"), I(s, "num_kv_heads"), I(s, "head_dim"), I(s, "page_size")),
        OpKind.GqaRaggedPrefill => GqaRaggedPrefill(I(s, "num_qo_heads"), I(s, "num_kv_heads"), I(s, "head_dim")),
        OpKind.Sampling => Sampling(I(s, "vocab_size")),
        _ => throw new ArgumentOutOfRangeException(nameof(s), s.Op, "unknown op"),
    };

    private static int I(KernelShape s, string axis) => checked((int)s.Axes[axis]);

    /// <summary>The operator and constants a name encodes, or null when the name is not one of ours.</summary>
    public static KernelShape? TryParse(string name)
    {
        int G(Match m, int i) => int.Parse(m.Groups[i].ValueSpan, CultureInfo.InvariantCulture);
        try
        {
            if (GemmRegex().Match(name) is { Success: true } g)
            {
                var type = g.Groups[1].Success ? Enum.Parse<GgmlType>(g.Groups[1].Value, ignoreCase: true) : GgmlType.F32;
                return KernelShape.Gemm(G(g, 2), G(g, 3), type);
            }
            if (NormRegex().Match(name) is { Success: true } n)
                return n.Groups[1].Success ? KernelShape.FusedAddRmsNorm(G(n, 2)) : KernelShape.RmsNorm(G(n, 2));
            if (SiluRegex().Match(name) is { Success: true } s) return KernelShape.SiluAndMul(G(s, 1));
            if (RopeRegex().Match(name) is { Success: true } r)
                return KernelShape.Rope(r.Groups[1].Value == "neox" ? RopeStyle.NeoX : RopeStyle.Interleaved, G(r, 2));
            if (GqaRegex().Match(name) is { Success: true } q)
            {
                int hq = G(q, 2), hkv = G(q, 3), d = G(q, 4);
                return q.Groups[1].Value switch
                {
                    "paged_decode" when q.Groups[5].Success => KernelShape.GqaPagedDecode(hq, hkv, d, G(q, 5)),
                    "paged_prefill_causal" when q.Groups[5].Success => KernelShape.GqaPagedPrefill(hq, hkv, d, G(q, 5)),
                    "ragged_prefill_causal" when !q.Groups[5].Success => KernelShape.GqaRaggedPrefill(hq, hkv, d),
                    _ => null,
                };
            }
            if (SamplingRegex().Match(name) is { Success: true } v) return KernelShape.Sampling(G(v, 1));
        }
        catch (Exception e) when (e is OverflowException or ArgumentOutOfRangeException) { return null; }
        return null;
    }

    /// <summary>Like <see cref="TryParse"/> but throws an <see cref="ArgumentException"/> naming the name.</summary>
    public static KernelShape Parse(string name) => TryParse(name) ?? throw new ArgumentException($"'{name}' is not a definition name SharpInfer implements");

    [GeneratedRegex("^gemm(?:_(f16|bf16|q8_0|q4_0|q4_k|q6_k))?_n([0-9]+)_k([0-9]+)$")] private static partial Regex GemmRegex();
    [GeneratedRegex("^(fused_add_)?rmsnorm_h([0-9]+)$")] private static partial Regex NormRegex();
    [GeneratedRegex("^silu_and_mul_i([0-9]+)$")] private static partial Regex SiluRegex();
    [GeneratedRegex("^rope_(interleaved|neox)_d([0-9]+)$")] private static partial Regex RopeRegex();
    [GeneratedRegex("^gqa_(paged_decode|paged_prefill_causal|ragged_prefill_causal)_h([0-9]+)_kv([0-9]+)_d([0-9]+)(?:_ps([0-9]+))?$")] private static partial Regex GqaRegex();
    [GeneratedRegex("^top_k_top_p_sampling_from_probs_v([0-9]+)$")] private static partial Regex SamplingRegex();
}
