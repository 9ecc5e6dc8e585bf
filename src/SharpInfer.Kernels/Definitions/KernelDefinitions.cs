using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Definitions;

/// <summary>
/// Full definitions (axes, inputs, outputs, dtypes, a Python reference) of the operators SharpInfer implements, so
/// they can be written as FlashInfer Trace JSON. Where the dataset has a definition of the same name, the generated
/// one has the same signature (<see cref="Definition.SameSignature"/>) when built with the dataset's dtype: the
/// engine's own dtype is float32, the dataset's usually bfloat16 or float16.
/// </summary>
public static class KernelDefinitions
{
    private static readonly string[] SharpInferTag = ["status:sharpinfer"];

    /// <param name="dtype">Dtype of the floating-point activations (and of a gemm's B when its weight type is F32).</param>
    public static Definition Create(KernelShape shape, string dtype = DType.Float32) => shape.Op switch
    {
        OpKind.Gemm => Gemm(shape, dtype),
        OpKind.RmsNorm => RmsNorm(shape, dtype, fused: false),
        OpKind.FusedAddRmsNorm => RmsNorm(shape, dtype, fused: true),
        OpKind.SiluAndMul => SiluAndMul(shape, dtype),
        OpKind.Rope => Rope(shape, dtype),
        OpKind.GqaPagedDecode => GqaPaged(shape, dtype, decode: true),
        OpKind.GqaPagedPrefill => GqaPaged(shape, dtype, decode: false),
        OpKind.GqaRaggedPrefill => GqaRagged(shape, dtype),
        OpKind.Sampling => Sampling(shape),
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape.Op, "unknown op"),
    };

    /// <summary>The definition of a name SharpInfer implements (see <see cref="DefinitionNames"/>).</summary>
    public static Definition Create(string name, string dtype = DType.Float32) => Create(DefinitionNames.Parse(name), dtype);

    private static Definition Gemm(KernelShape s, string dtype)
    {
        long n = s["N"], k = s["K"];
        bool quantized = s.WeightType != GgmlType.F32;
        string bType = quantized ? DefinitionNames.TypeName(s.WeightType) : dtype;
        return new Definition
        {
            Name = s.Name,
            Description = quantized
                ? $"C = A @ B.T with B stored as ggml {DefinitionNames.TypeName(s.WeightType)} blocks (dequantized exactly by ggml's rules), A and C {dtype}. SharpInfer definition."
                : $"General matrix multiply (GEMM) C = A @ B.T. SharpInfer definition.",
            OpType = "gemm",
            Tags = SharpInferTag,
            Axes = new() { ["M"] = AxisSpec.Var(), ["N"] = AxisSpec.Const(n), ["K"] = AxisSpec.Const(k) },
            Inputs = new() { ["A"] = TensorSpec.Of(dtype, "M", "K"), ["B"] = TensorSpec.Of(bType, "N", "K") },
            Outputs = new() { ["C"] = TensorSpec.Of(dtype, "M", "N") },
            Reference = quantized
                ? "import torch\n\ndef run(A, B):\n    # B: ggml blocks, dequantized to float32 first (gguf.quants.dequantize)\n    W = dequantize(B).to(torch.float64)\n    return (A.to(torch.float64) @ W.T).to(A.dtype)"
                : "import torch\n\ndef run(A, B):\n    C = torch.matmul(A, B.T)\n    return C",
        };
    }

    private static Definition RmsNorm(KernelShape s, string dtype, bool fused)
    {
        long h = s["hidden_size"];
        var inputs = new OrderedDictionary<string, TensorSpec> { ["hidden_states"] = TensorSpec.Of(dtype, "batch_size", "hidden_size") };
        if (fused) inputs["residual"] = TensorSpec.Of(dtype, "batch_size", "hidden_size");
        inputs["weight"] = TensorSpec.Of(dtype, "hidden_size");
        string args = fused ? "hidden_states, residual, weight" : "hidden_states, weight";
        string x = fused ? "hidden_states.to(torch.float32) + residual.to(torch.float32)" : "hidden_states.to(torch.float32)";
        return new Definition
        {
            Name = s.Name,
            Description = fused ? $"Fused Add + RMSNorm with hidden_size={h}. Epsilon is fixed at 1e-5." : $"Root Mean Square Normalization with hidden_size={h}. Epsilon is fixed at 1e-5.",
            OpType = "rmsnorm",
            Tags = fused ? [.. SharpInferTag, "fused", "fi_api:flashinfer.norm.fused_add_rmsnorm"] : [.. SharpInferTag, "fi_api:flashinfer.norm.rmsnorm"],
            Axes = new() { ["batch_size"] = AxisSpec.Var(), ["hidden_size"] = AxisSpec.Const(h) },
            Inputs = inputs,
            Outputs = new() { ["output"] = TensorSpec.Of(dtype, "batch_size", "hidden_size") },
            Reference = $"import torch\n\n@torch.no_grad()\ndef run({args}):\n    _, hidden_size = hidden_states.shape\n    assert hidden_size == {h}\n\n    EPS = 1e-5\n\n    x = {x}\n    inv_rms = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS)\n    y = (x * inv_rms) * weight.to(torch.float32)\n    return y.to(hidden_states.dtype)",
        };
    }

    private static Definition SiluAndMul(KernelShape s, string dtype) => new()
    {
        Name = s.Name,
        Description = $"SwiGLU gate: output = silu(gate) * up with intermediate_size={s["intermediate_size"]}. Gate and up are separate tensors. SharpInfer definition.",
        OpType = "silu_and_mul",
        Tags = SharpInferTag,
        Axes = new() { ["num_tokens"] = AxisSpec.Var(), ["intermediate_size"] = AxisSpec.Const(s["intermediate_size"]) },
        Inputs = new() { ["gate"] = TensorSpec.Of(dtype, "num_tokens", "intermediate_size"), ["up"] = TensorSpec.Of(dtype, "num_tokens", "intermediate_size") },
        Outputs = new() { ["output"] = TensorSpec.Of(dtype, "num_tokens", "intermediate_size") },
        Reference = "import torch\n\n@torch.no_grad()\ndef run(gate, up):\n    g = gate.to(torch.float32)\n    return (torch.nn.functional.silu(g) * up.to(torch.float32)).to(gate.dtype)",
    };

    private static Definition Rope(KernelShape s, string dtype)
    {
        long d = s["head_dim"];
        bool neox = s.RopeStyle == RopeStyle.NeoX;
        string rotate = neox
            ? "        x1, x2 = x[..., : d // 2], x[..., d // 2 :]\n        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)"
            : "        x1, x2 = x[..., 0::2], x[..., 1::2]\n        return torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).flatten(-2)";
        return new Definition
        {
            Name = s.Name,
            Description = $"Rotary position embedding over the whole head (head_dim={d}) from a cos/sin cache, {(neox ? "NeoX style (pairs (i, i + d/2))" : "interleaved style (pairs (2i, 2i+1), llama.cpp's normal mode)")}. SharpInfer definition.",
            OpType = "rope",
            Tags = SharpInferTag,
            Axes = new()
            {
                ["num_tokens"] = AxisSpec.Var(), ["num_qo_heads"] = AxisSpec.Var(), ["num_kv_heads"] = AxisSpec.Var(),
                ["head_dim"] = AxisSpec.Const(d), ["max_seq_len"] = AxisSpec.Var("Rows of the cos/sin cache."),
            },
            Constraints = [],
            Inputs = new()
            {
                ["q"] = TensorSpec.Of(dtype, "num_tokens", "num_qo_heads", "head_dim"),
                ["k"] = TensorSpec.Of(dtype, "num_tokens", "num_kv_heads", "head_dim"),
                ["cos_sin_cache"] = TensorSpec.Of(DType.Float32, "max_seq_len", "head_dim") with { Description = "First half of the last dim is cos, second half sin." },
                ["positions"] = TensorSpec.Of(DType.Int32, "num_tokens"),
            },
            Outputs = new() { ["q_out"] = TensorSpec.Of(dtype, "num_tokens", "num_qo_heads", "head_dim"), ["k_out"] = TensorSpec.Of(dtype, "num_tokens", "num_kv_heads", "head_dim") },
            Reference = $"import torch\n\n@torch.no_grad()\ndef run(q, k, cos_sin_cache, positions):\n    d = {d}\n    cos, sin = cos_sin_cache[positions].chunk(2, dim=-1)\n    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)\n\n    def rotate(x):\n{rotate}\n\n    return rotate(q.to(torch.float32)).to(q.dtype), rotate(k.to(torch.float32)).to(k.dtype)",
        };
    }

    private static Definition GqaPaged(KernelShape s, string dtype, bool decode)
    {
        long hq = s["num_qo_heads"], hkv = s["num_kv_heads"], d = s["head_dim"], ps = s["page_size"];
        bool lastPageLen = ps > 1;
        string tokens = decode ? "batch_size" : "total_q";
        var axes = new OrderedDictionary<string, AxisSpec>();
        if (decode)
        {
            axes["batch_size"] = AxisSpec.Var("Total number of query tokens.");
            axes["num_qo_heads"] = AxisSpec.Const(hq); axes["num_kv_heads"] = AxisSpec.Const(hkv); axes["head_dim"] = AxisSpec.Const(d);
            axes["num_pages"] = AxisSpec.Var(); axes["page_size"] = AxisSpec.Const(ps);
            axes["len_indptr"] = AxisSpec.Var("Length of kv_indptr array."); axes["num_kv_indices"] = AxisSpec.Var("Total number of KV page indices.");
        }
        else
        {
            axes["num_qo_heads"] = AxisSpec.Const(hq); axes["num_kv_heads"] = AxisSpec.Const(hkv); axes["head_dim"] = AxisSpec.Const(d);
            axes["page_size"] = AxisSpec.Const(ps);
            axes["len_indptr"] = AxisSpec.Var("Length of indptr arrays. Should be the same for qo_indptr and kv_indptr (batch_size + 1).");
            axes["total_q"] = AxisSpec.Var("Total number of query tokens.");
            axes["num_kv_indices"] = AxisSpec.Var("Total number of KV page indices.");
            axes["num_pages"] = AxisSpec.Var();
            if (lastPageLen) axes["batch_size"] = AxisSpec.Var("Number of sequences in the batch.");
        }
        var inputs = new OrderedDictionary<string, TensorSpec>
        {
            ["q"] = TensorSpec.Of(dtype, tokens, "num_qo_heads", "head_dim"),
            ["k_cache"] = TensorSpec.Of(dtype, "num_pages", "page_size", "num_kv_heads", "head_dim"),
            ["v_cache"] = TensorSpec.Of(dtype, "num_pages", "page_size", "num_kv_heads", "head_dim"),
        };
        if (!decode) inputs["qo_indptr"] = TensorSpec.Of(DType.Int32, "len_indptr") with { Description = "Query offsets for each sequence." };
        inputs["kv_indptr"] = TensorSpec.Of(DType.Int32, "len_indptr") with { Description = "KV page offsets for each sequence." };
        inputs["kv_indices"] = TensorSpec.Of(DType.Int32, "num_kv_indices") with { Description = "Page IDs for KV cache lookups." };
        if (lastPageLen) inputs["kv_last_page_len"] = TensorSpec.Of(DType.Int32, "batch_size") with { Description = "Number of valid tokens in the last page for each sequence." };
        inputs["sm_scale"] = TensorSpec.Scalar(DType.Float32, "Softmax scale. Default is (1/sqrt(head_dim)).");
        string lastLen = lastPageLen ? "int(kv_last_page_len[b].item())" : "page_size";
        string qStart = decode ? "b" : "int(qo_indptr[b].item())", qEnd = decode ? "b + 1" : "int(qo_indptr[b + 1].item())";
        string args = decode ? "q, k_cache, v_cache, kv_indptr, kv_indices" : "q, k_cache, v_cache, qo_indptr, kv_indptr, kv_indices";
        if (lastPageLen) args += ", kv_last_page_len";
        return new Definition
        {
            Name = s.Name,
            Description = decode
                ? $"Batched Grouped Query Attention decode with a paged KV cache (page_size={ps})."
                : $"Batched Grouped Query Attention prefill with a paged KV cache (page_size={ps}). Causal mask is applied.",
            OpType = "gqa_paged",
            Tags = decode ? ["stage:decode", .. SharpInferTag, "fi_api:flashinfer.decode.BatchDecodeWithPagedKVCacheWrapper"]
                          : ["stage:prefill", .. SharpInferTag, "fi_api:flashinfer.prefill.BatchPrefillWithPagedKVCacheWrapper"],
            Axes = axes,
            Constraints = decode ? ["len_indptr == batch_size + 1", "num_kv_indices == kv_indptr[-1].item()"]
                                 : ["total_q == qo_indptr[-1].item()", "num_kv_indices == kv_indptr[-1].item()"],
            Inputs = inputs,
            Outputs = new()
            {
                ["output"] = TensorSpec.Of(dtype, tokens, "num_qo_heads", "head_dim"),
                ["lse"] = TensorSpec.Of(DType.Float32, tokens, "num_qo_heads") with { Description = "The 2-based log-sum-exp of attention logits." },
            },
            Reference = "import torch\nimport math\n\n\n@torch.no_grad()\n" +
                $"def run({args}, sm_scale):\n" +
                "    num_tokens, num_qo_heads, head_dim = q.shape\n    _, page_size, num_kv_heads, _ = k_cache.shape\n" +
                "    output = torch.zeros_like(q)\n    lse = torch.full((num_tokens, num_qo_heads), -float(\"inf\"), dtype=torch.float32, device=q.device)\n" +
                "    g = num_qo_heads // num_kv_heads\n" +
                "    for b in range(kv_indptr.shape[0] - 1):\n" +
                $"        qs, qe = {qStart}, {qEnd}\n" +
                "        pages = kv_indices[int(kv_indptr[b].item()):int(kv_indptr[b + 1].item())].to(torch.long)\n" +
                "        if qs >= qe or len(pages) == 0:\n            continue\n" +
                $"        kv_len = (len(pages) - 1) * page_size + {lastLen}\n" +
                "        k = k_cache[pages].reshape(-1, num_kv_heads, head_dim)[:kv_len].to(torch.float32).repeat_interleave(g, dim=1)\n" +
                "        v = v_cache[pages].reshape(-1, num_kv_heads, head_dim)[:kv_len].to(torch.float32).repeat_interleave(g, dim=1)\n" +
                "        qb = q[qs:qe].to(torch.float32)\n" +
                "        logits = torch.einsum(\"qhd,khd->qhk\", qb, k) * sm_scale\n" +
                "        q_pos = torch.arange(qe - qs, device=q.device)[:, None] + (kv_len - (qe - qs))\n" +
                "        logits.masked_fill_((torch.arange(kv_len, device=q.device)[None, :] > q_pos)[:, None, :], -float(\"inf\"))\n" +
                "        lse[qs:qe] = torch.logsumexp(logits, dim=-1) / math.log(2.0)\n" +
                "        output[qs:qe] = torch.einsum(\"qhk,khd->qhd\", torch.softmax(logits, dim=-1), v).to(q.dtype)\n" +
                "    return output, lse",
        };
    }

    private static Definition GqaRagged(KernelShape s, string dtype) => new()
    {
        Name = s.Name,
        Description = "Batched Grouped Query Attention prefill with ragged (variable-length) inputs. Causal mask is applied.",
        OpType = "gqa_ragged",
        Tags = ["stage:prefill", .. SharpInferTag, "fi_api:flashinfer.prefill.BatchPrefillWithRaggedKVCacheWrapper"],
        Axes = new()
        {
            ["num_qo_heads"] = AxisSpec.Const(s["num_qo_heads"]), ["num_kv_heads"] = AxisSpec.Const(s["num_kv_heads"]), ["head_dim"] = AxisSpec.Const(s["head_dim"]),
            ["len_indptr"] = AxisSpec.Var("Length of indptr arrays. Should be the same for qo_indptr and kv_indptr (batch_size + 1)."),
            ["total_q"] = AxisSpec.Var("Total number of query tokens."), ["total_kv"] = AxisSpec.Var("Total key-value tokens across all sequences."),
        },
        Constraints = ["total_q == qo_indptr[-1].item()", "total_kv == kv_indptr[-1].item()"],
        Inputs = new()
        {
            ["q"] = TensorSpec.Of(dtype, "total_q", "num_qo_heads", "head_dim"),
            ["k"] = TensorSpec.Of(dtype, "total_kv", "num_kv_heads", "head_dim"),
            ["v"] = TensorSpec.Of(dtype, "total_kv", "num_kv_heads", "head_dim"),
            ["qo_indptr"] = TensorSpec.Of(DType.Int32, "len_indptr") with { Description = "Query offsets for each sequence." },
            ["kv_indptr"] = TensorSpec.Of(DType.Int32, "len_indptr") with { Description = "Key-value offsets for each sequence." },
            ["sm_scale"] = TensorSpec.Scalar(DType.Float32, "Softmax scale. Default is (1/sqrt(head_dim))."),
        },
        Outputs = new()
        {
            ["output"] = TensorSpec.Of(dtype, "total_q", "num_qo_heads", "head_dim"),
            ["lse"] = TensorSpec.Of(DType.Float32, "total_q", "num_qo_heads") with { Description = "The 2-based log-sum-exp of attention logits." },
        },
        Reference = "import torch\nimport math\n\n\n@torch.no_grad()\ndef run(q, k, v, qo_indptr, kv_indptr, sm_scale):\n" +
            "    total_q, num_qo_heads, head_dim = q.shape\n    g = num_qo_heads // k.shape[1]\n" +
            "    output = torch.zeros_like(q)\n    lse = torch.full((total_q, num_qo_heads), -float(\"inf\"), dtype=torch.float32, device=q.device)\n" +
            "    for b in range(qo_indptr.shape[0] - 1):\n" +
            "        qs, qe = int(qo_indptr[b].item()), int(qo_indptr[b + 1].item())\n        ks, ke = int(kv_indptr[b].item()), int(kv_indptr[b + 1].item())\n" +
            "        if qs >= qe or ks >= ke:\n            continue\n" +
            "        kb = k[ks:ke].to(torch.float32).repeat_interleave(g, dim=1)\n        vb = v[ks:ke].to(torch.float32).repeat_interleave(g, dim=1)\n" +
            "        logits = torch.einsum(\"qhd,khd->qhk\", q[qs:qe].to(torch.float32), kb) * sm_scale\n" +
            "        delta = (ke - ks) - (qe - qs)\n" +
            "        mask = torch.arange(ke - ks, device=q.device)[None, :] < torch.arange(qe - qs, device=q.device)[:, None] + 1 + delta\n" +
            "        logits = logits.masked_fill(~mask[:, None, :], -float(\"inf\"))\n" +
            "        lse[qs:qe] = torch.logsumexp(logits, dim=-1) / math.log(2.0)\n" +
            "        output[qs:qe] = torch.einsum(\"qhk,khd->qhd\", torch.softmax(logits, dim=-1), vb).to(q.dtype)\n" +
            "    return output, lse",
    };

    private static Definition Sampling(KernelShape s)
    {
        long v = s["vocab_size"];
        return new Definition
        {
            Name = s.Name,
            Description = $"Top-k top-p (nucleus) sampling from probabilities with vocab_size={v}. Filters probabilities using top-k and top-p constraints, then samples from the filtered distribution.",
            OpType = "sampling",
            Tags = [.. SharpInferTag, "fi_api:flashinfer.sampling.top_k_top_p_sampling_from_probs"],
            Axes = new() { ["batch_size"] = AxisSpec.Var("Number of sequences to sample from"), ["vocab_size"] = AxisSpec.Const(v) },
            Inputs = new()
            {
                ["probs"] = TensorSpec.Of(DType.Float32, "batch_size", "vocab_size") with { Description = "Probability distributions (after softmax)" },
                ["top_k"] = TensorSpec.Of(DType.Int32, "batch_size") with { Description = "Number of top tokens to consider for sampling per sequence" },
                ["top_p"] = TensorSpec.Of(DType.Float32, "batch_size") with { Description = "Cumulative probability threshold for nucleus sampling per sequence" },
            },
            Outputs = new() { ["samples"] = TensorSpec.Of(DType.Int64, "batch_size") with { Description = "Sampled token indices" } },
            Reference = "import torch\n\n@torch.no_grad()\ndef run(probs, top_k, top_p):\n    batch_size, vocab_size = probs.shape\n" +
                $"    assert vocab_size == {v}\n" +
                "    probs = probs.to(torch.float32)\n    samples = torch.empty(batch_size, dtype=torch.int64, device=probs.device)\n" +
                "    for i in range(batch_size):\n        row = probs[i]\n        k = int(top_k[i].item())\n        p = float(top_p[i].item())\n" +
                "        if 0 < k < vocab_size:\n            keep = torch.argsort(row, descending=True)[:k]\n            f = torch.zeros_like(row)\n            f[keep] = row[keep]\n            row = f / f.sum()\n" +
                "        if p <= 0.0:\n            samples[i] = torch.argmax(row).to(torch.int64)\n            continue\n" +
                "        if p < 1.0:\n            vals, idx = torch.sort(row, descending=True)\n            to_remove = torch.cumsum(vals, dim=0) > p\n" +
                "            to_remove[1:] = to_remove[:-1].clone()\n            to_remove[0] = False\n            f = torch.zeros_like(row)\n" +
                "            f[idx[~to_remove]] = row[idx[~to_remove]]\n            row = f / f.sum()\n" +
                "        samples[i] = torch.multinomial(row, 1, replacement=True).squeeze(0)\n    return samples\n",
        };
    }
}
