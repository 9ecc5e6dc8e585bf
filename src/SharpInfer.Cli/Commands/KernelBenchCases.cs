using System.Runtime.InteropServices;
using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Definitions;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Dispatch;
using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Reference;
using SharpInfer.Kernels.Sampling;

namespace SharpInfer.Cli.Commands;

/// <summary>Outcome of checking one solution against the float64 reference.</summary>
internal sealed record CheckResult(EvaluationStatus Status, double MaxAbsoluteError, double MaxRelativeError, string Log = "", IReadOnlyDictionary<string, double>? Extra = null);

/// <summary>
/// One definition made concrete for the bench: random inputs for fixed var axes, the float64 reference, and how to run
/// a solution. <see cref="Restore"/> puts in-place inputs back before a checked run; timed runs just repeat.
/// </summary>
internal abstract class KernelBenchCase : IDisposable
{
    /// <summary>FlashInfer-bench's default tolerances.</summary>
    public const double Atol = 1e-2, Rtol = 1e-2;

    public required KernelShape Shape { get; init; }
    /// <summary>Var axis values of this workload.</summary>
    public OrderedDictionary<string, long> VarAxes { get; } = [];
    /// <summary>Bytes one call must read and write at least (weights, activations, KV), for GB/s.</summary>
    public long Bytes { get; protected set; }

    public abstract void ComputeReference();
    public virtual void Restore() { }
    public abstract void Run(KernelSolution solution);

    /// <summary>Runs the solution once on fresh inputs and compares with the reference (FlashInfer-bench's rule).</summary>
    public virtual CheckResult Check(KernelSolution solution)
    {
        Restore();
        Run(solution);
        return Compare(Reference, Output);
    }

    protected abstract double[] Reference { get; }
    protected abstract ReadOnlySpan<float> Output { get; }

    /// <summary>An element fails only if |x-y| &gt; atol and |x-y|/(|y|+1e-8) &gt; rtol; NaN or Inf fails.</summary>
    public static CheckResult Compare(ReadOnlySpan<double> reference, ReadOnlySpan<float> actual)
    {
        double maxAbs = 0, maxRel = 0;
        int failed = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double x = actual[i], y = reference[i], abs = Math.Abs(x - y), rel = abs / (Math.Abs(y) + 1e-8);
            if (!double.IsFinite(x)) { failed++; maxAbs = maxRel = double.PositiveInfinity; continue; }
            maxAbs = Math.Max(maxAbs, abs);
            maxRel = Math.Max(maxRel, rel);
            if (abs > Atol && rel > Rtol) failed++;
        }
        return new CheckResult(failed == 0 ? EvaluationStatus.Passed : EvaluationStatus.IncorrectNumerical, maxAbs, maxRel,
            failed == 0 ? "" : $"{failed} of {reference.Length} elements outside atol={Atol} rtol={Rtol}");
    }

    public virtual void Dispose() { }

    protected static float[] Random(int n, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        return v;
    }

    /// <summary>The case of a definition; <paramref name="heads"/> is (query, kv) heads where the name does not fix them.</summary>
    public static KernelBenchCase Create(KernelShape shape, KernelContext context, int tokens, int kvLength, (int Q, int Kv) heads) => shape.Op switch
    {
        OpKind.RmsNorm or OpKind.FusedAddRmsNorm => new NormCase(shape, tokens),
        OpKind.SiluAndMul => new SiluCase(shape, tokens),
        OpKind.Rope => new RopeCase(shape, tokens, heads.Q + heads.Kv),
        OpKind.Gemm => new GemmCase(shape, context, tokens),
        OpKind.GqaPagedDecode or OpKind.GqaPagedPrefill => new AttentionCase(shape, context, tokens, kvLength),
        OpKind.Sampling => new SamplingCase(shape, tokens),
        _ => throw new CliInputException($"{shape.Name}: no bench for {shape.Op} yet"),
    };
}

internal sealed class NormCase : KernelBenchCase
{
    private readonly float[] _x, _residual0, _residual, _weight, _y;
    private readonly bool _fused;
    private double[] _reference = [];

    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public NormCase(KernelShape shape, int tokens)
    {
        Shape = shape;
        _fused = shape.Op == OpKind.FusedAddRmsNorm;
        int h = (int)shape["hidden_size"];
        VarAxes["batch_size"] = tokens;
        _x = Random(tokens * h, 1, 3f); _residual0 = Random(tokens * h, 2, 3f); _residual = (float[])_residual0.Clone();
        _weight = Random(h, 3); _y = new float[tokens * h];
        Bytes = sizeof(float) * ((_fused ? 4L : 2L) * tokens * h + h);
    }

    public override void ComputeReference() => _reference = _fused
        ? ReferenceKernels.FusedAddRmsNorm(_x, _residual0, _weight, 1e-5, out _)
        : ReferenceKernels.RmsNorm(_x, _weight, 1e-5);

    public override void Restore() => _residual0.CopyTo(_residual, 0);

    public override void Run(KernelSolution solution)
    {
        if (_fused) solution.Get<FusedAddRmsNormKernel>()(_x, _residual, _weight, 1e-5f, _y);
        else solution.Get<RmsNormKernel>()(_x, _weight, 1e-5f, _y);
    }

    protected override double[] Reference => _reference;
    protected override ReadOnlySpan<float> Output => _y;
}

internal sealed class SiluCase : KernelBenchCase
{
    private readonly float[] _gate, _up, _out;
    private double[] _reference = [];

    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public SiluCase(KernelShape shape, int tokens)
    {
        Shape = shape;
        int n = tokens * (int)shape["intermediate_size"];
        VarAxes["num_tokens"] = tokens;
        _gate = Random(n, 4, 6f); _up = Random(n, 5, 2f); _out = new float[n];
        Bytes = 3L * n * sizeof(float);
    }

    public override void ComputeReference() => _reference = ReferenceKernels.SiluAndMul(_gate, _up);
    public override void Run(KernelSolution solution) => solution.Get<SiluAndMulKernel>()(_gate, _up, _out);
    protected override double[] Reference => _reference;
    protected override ReadOnlySpan<float> Output => _out;
}

internal sealed class RopeCase : KernelBenchCase
{
    private readonly float[] _x0, _x, _cache;
    private readonly int[] _positions;
    private readonly int _heads, _d;
    private double[] _reference = [];

    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public RopeCase(KernelShape shape, int tokens, int heads)
    {
        Shape = shape;
        _d = (int)shape["head_dim"]; _heads = heads;
        const int maxSeq = 4096;
        var rope = new Rope(_d, 10000, shape.RopeStyle);
        _cache = new float[maxSeq * _d];
        for (int p = 0; p < maxSeq; p++) rope.Angles(p, _cache.AsSpan(p * _d, _d / 2), _cache.AsSpan(p * _d + _d / 2, _d / 2));
        _positions = Enumerable.Range(0, tokens).Select(t => (t * 131 + 17) % maxSeq).ToArray();
        _x0 = Random(tokens * heads * _d, 6); _x = (float[])_x0.Clone();
        VarAxes["num_tokens"] = tokens; VarAxes["num_heads"] = heads; VarAxes["max_seq_len"] = maxSeq;
        Bytes = sizeof(float) * (2L * _x.Length + (long)tokens * _d);
    }

    public override void ComputeReference() => _reference = ReferenceKernels.Rope(_x0, _heads, _d, _cache, _positions, Shape.RopeStyle);
    public override void Restore() => _x0.CopyTo(_x, 0);
    public override void Run(KernelSolution solution) => solution.Get<RopeKernel>()(_x, _heads, _d, _cache, _positions);
    protected override double[] Reference => _reference;
    protected override ReadOnlySpan<float> Output => _x;
}

internal sealed unsafe class GemmCase : KernelBenchCase
{
    private readonly byte* _weights;
    private readonly PreparedWeights _prepared = new();
    private readonly WeightMatrix _w;
    private readonly float[] _a, _c;
    private readonly int _m;
    private readonly KernelContext _context;
    private double[] _reference = [];

    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public GemmCase(KernelShape shape, KernelContext context, int tokens)
    {
        Shape = shape;
        int n = (int)shape["N"], k = (int)shape["K"];
        if (k % GgmlTypeInfo.BlockSize(shape.WeightType) != 0) throw new CliInputException($"{shape.Name}: K={k} is not a multiple of the {shape.WeightType} block size");
        _m = tokens;
        VarAxes["M"] = tokens;
        long rowBytes = GgmlTypeInfo.RowBytes(shape.WeightType, k);
        _weights = (byte*)NativeMemory.AlignedAlloc((nuint)(rowBytes * n), 64);
        var random = new Random(7);
        var row = new float[k];
        for (int r = 0; r < n; r++)
        {
            for (int i = 0; i < k; i++) row[i] = (float)(random.NextDouble() * 2 - 1);
            Quantize.Row(shape.WeightType, row, new Span<byte>(_weights + r * rowBytes, (int)rowBytes));
        }
        // Prepared as a model prepares its weights at load (scale tables, interleaved or packed copies), so the
        // solutions run the kernels the engine runs.
        _w = _prepared.Prepare(new WeightMatrix(_weights, shape.WeightType, n, k));
        _a = Random(tokens * k, 8);
        _c = new float[tokens * n];
        _context = context;
        Bytes = rowBytes * n + sizeof(float) * ((long)tokens * k + (long)tokens * n);
    }

    private double[] _quantizedReference = [];
    private bool _lastRunQuantized;

    public override void ComputeReference()
    {
        _reference = ReferenceKernels.Gemm(_w, _a, _m);
        if (MatMul.HasIntegerPath(_w.Type)) _quantizedReference = ReferenceKernels.Gemm(_w, _a, _m, quantizeActivations: true);
    }

    public override void Run(KernelSolution solution)
    {
        _lastRunQuantized = solution.QuantizesActivations;
        fixed (float* a = _a, c = _c) solution.Get<GemmKernel>()(_context, _w, a, c, _m);
    }

    /// <summary>The reference of the solution run last: int8 solutions are judged on quantized activations.</summary>
    protected override double[] Reference => _lastRunQuantized ? _quantizedReference : _reference;
    protected override ReadOnlySpan<float> Output => _c;
    public override void Dispose()
    {
        _prepared.Dispose();
        NativeMemory.AlignedFree(_weights);
    }
}

internal sealed unsafe class AttentionCase : KernelBenchCase
{
    private readonly PagedKvCache _cache;
    private readonly PageTable _table;
    private readonly int[] _qoIndptr, _kvIndptr, _kvIndices, _lastPageLen;
    private readonly float[] _q, _kNhd, _vNhd, _out;
    private readonly int _hq, _hkv, _d, _pageSize;
    private readonly float _scale;
    private readonly KernelContext _context;
    private double[] _reference = [];

    /// <param name="tokens">Decode: requests in the batch. Prefill: query tokens of the one request.</param>
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public AttentionCase(KernelShape shape, KernelContext context, int tokens, int kvLength)
    {
        Shape = shape;
        bool decode = shape.Op == OpKind.GqaPagedDecode;
        _hq = (int)shape["num_qo_heads"]; _hkv = (int)shape["num_kv_heads"]; _d = (int)shape["head_dim"]; _pageSize = (int)shape["page_size"];
        int batch = decode ? tokens : 1;
        int qoLen = decode ? 1 : Math.Min(tokens, kvLength);
        int pagesPerRequest = (kvLength + _pageSize - 1) / _pageSize, numPages = batch * pagesPerRequest;
        _qoIndptr = Enumerable.Range(0, batch + 1).Select(b => b * qoLen).ToArray();
        _kvIndptr = Enumerable.Range(0, batch + 1).Select(b => b * pagesPerRequest).ToArray();
        _kvIndices = Enumerable.Range(0, numPages).Select(i => (int)((i * 7919L) % numPages)).ToArray(); // scattered pages
        if (_kvIndices.Distinct().Count() != numPages) _kvIndices = Enumerable.Range(0, numPages).Reverse().ToArray();
        _lastPageLen = Enumerable.Repeat(kvLength - (pagesPerRequest - 1) * _pageSize, batch).ToArray();
        int totalQ = _qoIndptr[^1], tokenFloats = _hkv * _d;
        _q = Random(totalQ * _hq * _d, 9);
        _kNhd = Random(numPages * _pageSize * tokenFloats, 10);
        _vNhd = Random(numPages * _pageSize * tokenFloats, 11);
        _out = new float[totalQ * _hq * _d];
        _scale = 1f / MathF.Sqrt(_d);
        // The engine's cache is HND; filling it from the NHD tensors of the definition is set-up, not timed.
        _cache = new PagedKvCache(1, numPages, _pageSize, _hkv, _d);
        for (int p = 0; p < numPages; p++)
            for (int e = 0; e < _pageSize; e++)
                _cache.Write(0, p, e, _kNhd.AsSpan((p * _pageSize + e) * tokenFloats, tokenFloats), _vNhd.AsSpan((p * _pageSize + e) * tokenFloats, tokenFloats));
        _table = new PageTable(_kvIndptr, _kvIndices, _lastPageLen, _pageSize);
        _context = context;
        if (decode) { VarAxes["batch_size"] = batch; }
        else { VarAxes["total_q"] = totalQ; VarAxes["batch_size"] = batch; }
        VarAxes["num_pages"] = numPages; VarAxes["len_indptr"] = batch + 1; VarAxes["num_kv_indices"] = numPages;
        Bytes = sizeof(float) * (2L * batch * kvLength * tokenFloats + 2L * totalQ * _hq * _d);
    }

    public override void ComputeReference() => _reference = ReferenceAttention.GqaPaged(_q, _kNhd, _vNhd, _hq, _hkv, _d, _pageSize, _qoIndptr, _kvIndptr, _kvIndices, _lastPageLen, _scale, out _);

    public override void Run(KernelSolution solution)
    {
        fixed (float* q = _q, o = _out) solution.Get<GqaPagedKernel>()(_context, _cache, 0, _table, _qoIndptr, _hq, q, o, _scale);
    }

    protected override double[] Reference => _reference;
    protected override ReadOnlySpan<float> Output => _out;
    public override void Dispose() => _cache.Dispose();
}

/// <summary>Sampling is judged statistically: every draw inside the support, total variation to the filtered distribution &lt;= 0.2.</summary>
internal sealed class SamplingCase : KernelBenchCase
{
    private const int TopK = 50, Draws = 1000;
    private const float TopP = 0.9f;
    private readonly float[] _probs;
    private readonly SamplingScratch _scratch;
    private double[] _distribution = [];
    private int _draw;

    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public SamplingCase(KernelShape shape, int tokens)
    {
        Shape = shape;
        int v = (int)shape["vocab_size"];
        _probs = Random(v, 12, 8f);
        Activations.SoftmaxInPlace(_probs);
        _scratch = new SamplingScratch(v);
        VarAxes["batch_size"] = 1;
        Bytes = (long)v * sizeof(float);
    }

    public override void ComputeReference() => _distribution = ReferenceSampling.TopKTopPMinP(_probs, TopK, TopP);

    public override void Run(KernelSolution solution) =>
        solution.Get<SamplingKernel>()(_probs, TopK, TopP, 0f, (_draw++ % Draws + 0.5) / Draws, _scratch);

    public override CheckResult Check(KernelSolution solution)
    {
        var kernel = solution.Get<SamplingKernel>();
        var samples = new int[Draws];
        int outside = 0;
        for (int i = 0; i < Draws; i++)
        {
            samples[i] = kernel(_probs, TopK, TopP, 0f, (i + 0.5) / Draws, _scratch);
            if (_distribution[samples[i]] == 0) outside++;
        }
        double tv = ReferenceSampling.TotalVariation(samples, _distribution);
        bool ok = outside == 0 && tv <= 0.2;
        var extra = new Dictionary<string, double> { ["total_variation"] = tv, ["outside_support"] = outside };
        return new CheckResult(ok ? EvaluationStatus.Passed : EvaluationStatus.IncorrectNumerical, tv, 0,
            ok ? "" : $"{outside} draws outside the top-k/top-p support, total variation {tv:F3}", extra);
    }

    protected override double[] Reference => _distribution;
    protected override ReadOnlySpan<float> Output => [];
}
