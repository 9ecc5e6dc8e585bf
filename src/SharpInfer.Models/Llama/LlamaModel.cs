using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Elementwise;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Threading;
using SharpInfer.Models.Gguf;

namespace SharpInfer.Models.Llama;

/// <summary>
/// The Llama-family forward pass (llama, mistral, qwen2) over memory-mapped GGUF weights and a paged KV cache.
/// One instance runs one forward at a time; the KV cache and its page table belong to the caller (the engine).
/// </summary>
public sealed unsafe class LlamaModel : IDisposable
{
    private sealed class Layer
    {
        public required float[] AttnNorm;   // [dim]
        public required WeightMatrix Wq;    // [heads * headDim, dim]
        public required WeightMatrix Wk;    // [kvHeads * headDim, dim]
        public required WeightMatrix Wv;    // [kvHeads * headDim, dim]
        public required WeightMatrix Wo;    // [dim, heads * headDim]
        public float[]? Bq, Bk, Bv;         // qwen2 biases
        public required float[] FfnNorm;    // [dim]
        public required WeightMatrix Gate;  // [ffn, dim]
        public required WeightMatrix Up;    // [ffn, dim]
        public required WeightMatrix Down;  // [dim, ffn]
    }

    private readonly GgufFile _file;
    private readonly bool _ownsFile;
    private readonly Layer[] _layers;
    private readonly WeightMatrix _embedding; // [vocab, dim]
    private readonly WeightMatrix _output;    // [vocab, dim]; the embedding when tied
    private readonly float[] _outputNorm;     // [dim]
    private readonly Rope _rope;
    private readonly WorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly MatMul _matmul;
    private readonly PagedAttention _attention;
    private readonly TokenSteps _step;
    private ActivationBuffers? _buffers;
    private readonly PreparedWeights _prepared = new(); // native copies made at load (scale tables, interleaved or packed payloads, column-blocked F16), freed on Dispose

    public LlamaConfig Config { get; }
    public GgufFile File => _file;
    public int Threads => _pool.Threads;
    /// <summary>The largest number of tokens one forward call processes at once; longer inputs are split.</summary>
    public int MaxTokensPerForward { get; }

    /// <summary>
    /// Multiply Q8_0/Q4_0 (and, with AVX-512BW, Q4_K/Q6_K) weights with int8-quantized activations, as llama.cpp
    /// does (default). Off, every type takes the exact float32 path.
    /// </summary>
    public bool QuantizeActivations
    {
        get => _matmul.QuantizeActivations;
        set => _matmul.QuantizeActivations = value;
    }

    /// <summary>
    /// A forward of at most this many tokens runs every token, prompt tokens included, through the matrix-vector
    /// arithmetic (int8 for Q8_0/Q4_0/Q4_K/Q6_K). Default 0: only the leading decode tokens do, which keeps a token's values
    /// independent of the batch it is in. Tests raise it to reach the integer path with prompts.
    /// </summary>
    public int IntegerPathMaxTokens { get; set; }

    /// <summary>
    /// Decode tokens (requests with one new token, placed first) take the matrix-vector arithmetic: int8 dot
    /// products for Q8_0/Q4_0/Q4_K/Q6_K, the fastest for one sequence (default). False: they take the float GEMM's
    /// tile arithmetic, slower for one sequence and faster for large batches (the serving engine's choice on few
    /// cores). Interleaved Q8_0/Q4_0 matrices (every one of a model whose rows come in groups of 16) and Q4_K matrices
    /// send every token through their integer kernels either way. Either way a token's values do not depend on the
    /// batch.
    /// </summary>
    public bool DecodeWithMatrixVector
    {
        get => !_matmul.MatrixVectorTokensTakeTile;
        set => _matmul.MatrixVectorTokensTakeTile = !value;
    }

    public LlamaModel(GgufFile file, int threads = 0, int maxTokensPerForward = 128, bool ownsFile = false)
        : this(file, new WorkerPool(threads > 0 ? threads : Environment.ProcessorCount), maxTokensPerForward, ownsFile, ownsPool: true) { }

    public LlamaModel(GgufFile file, WorkerPool pool, int maxTokensPerForward, bool ownsFile, bool ownsPool)
    {
        _file = file; _ownsFile = ownsFile; _pool = pool; _ownsPool = ownsPool;
        try
        {
            Config = LlamaConfig.FromGguf(file);
            var c = Config;
            MaxTokensPerForward = Math.Max(1, maxTokensPerForward);
            _embedding = Matrix("token_embd.weight", c.VocabSize, c.Dim);
            bool tied = file.FindTensor("output.weight") == null;
            _output = _prepared.Prepare(tied ? _embedding : Matrix("output.weight", c.VocabSize, c.Dim));
            // A tied float matrix was copied (same rows, huge pages) and its file pages advised out: look tokens up in the copy.
            if (tied && _output.Data != _embedding.Data) _embedding = new WeightMatrix(_output.Data, _embedding.Type, _embedding.Rows, _embedding.Columns);
            _outputNorm = Vector("output_norm.weight", c.Dim);
            _layers = new Layer[c.Layers];
            for (int l = 0; l < c.Layers; l++)
            {
                string p = $"blk.{l}.";
                _layers[l] = new Layer
                {
                    AttnNorm = Vector(p + "attn_norm.weight", c.Dim),
                    Wq = _prepared.Prepare(Matrix(p + "attn_q.weight", c.QueryDim, c.Dim)),
                    Wk = _prepared.Prepare(Matrix(p + "attn_k.weight", c.KvDim, c.Dim)),
                    Wv = _prepared.Prepare(Matrix(p + "attn_v.weight", c.KvDim, c.Dim)),
                    Wo = _prepared.Prepare(Matrix(p + "attn_output.weight", c.Dim, c.QueryDim)),
                    Bq = OptionalVector(p + "attn_q.bias", c.QueryDim),
                    Bk = OptionalVector(p + "attn_k.bias", c.KvDim),
                    Bv = OptionalVector(p + "attn_v.bias", c.KvDim),
                    FfnNorm = Vector(p + "ffn_norm.weight", c.Dim),
                    Gate = _prepared.Prepare(Matrix(p + "ffn_gate.weight", c.FfnDim, c.Dim)),
                    Up = _prepared.Prepare(Matrix(p + "ffn_up.weight", c.FfnDim, c.Dim)),
                    Down = _prepared.Prepare(Matrix(p + "ffn_down.weight", c.Dim, c.FfnDim)),
                };
            }
            // llama-3.1 files carry their frequency factors as a tensor; it takes precedence over metadata.
            float[]? factors = file.FindTensor("rope_freqs.weight") is { } rf ? Vector("rope_freqs.weight", c.RopeDim / 2) : c.RopeFrequencyFactors;
            _rope = new Rope(c.RopeDim, c.RopeBase, c.RopeStyle, c.RopeLinearScale, factors);
            _matmul = new MatMul(_pool);
            _attention = new PagedAttention(_pool);
            _step = new TokenSteps(this);
        }
        catch
        {
            _prepared.Dispose();
            if (_ownsPool) _pool.Dispose();
            throw;
        }
    }

    /// <summary>Opens a GGUF file and builds the model over it; the model owns (and disposes) the file.</summary>
    /// <param name="maxTokensPerForward">Most tokens one forward computes (a serving engine's step budget); longer
    /// single-request inputs are split into chunks of this size.</param>
    public static LlamaModel Load(string path, int threads = 0, int maxTokensPerForward = 128)
    {
        var file = GgufFile.Open(path);
        try { return new LlamaModel(file, threads, maxTokensPerForward, ownsFile: true); }
        catch { file.Dispose(); throw; }
    }

    /// <summary>A KV cache shaped for this model.</summary>
    public PagedKvCache CreateKvCache(int pages, int pageSize = 16) => new(Config.Layers, pages, pageSize, Config.KvHeads, Config.HeadDim);

    private WeightMatrix Matrix(string name, int rows, int cols)
    {
        var t = _file.GetTensor(name);
        if (t.Dimensions.Length != 2 || t.Dimensions[0] != (ulong)cols || t.Dimensions[1] != (ulong)rows)
            throw GgufFormatException.InField(_file.FileName, $"tensor '{name}'", $"shape {t.ShapeText} but the metadata implies {rows} x {cols}");
        return new WeightMatrix(_file.TensorData(t), t.Type, rows, cols);
    }

    private float[] Vector(string name, int length)
    {
        var t = _file.GetTensor(name);
        if (t.ElementCount != (ulong)length)
            throw GgufFormatException.InField(_file.FileName, $"tensor '{name}'", $"has {t.ElementCount} values but the metadata implies {length}");
        return _file.ReadFloats(t);
    }

    private float[]? OptionalVector(string name, int length) => _file.FindTensor(name) == null ? null : Vector(name, length);

    /// <summary>
    /// Runs the model on a ragged batch of new tokens. The page table must already hold room for them: request b's
    /// new tokens take the last qoLen positions of its KV length. Their K/V are written into the cache.
    /// </summary>
    /// <param name="tokens">[nnz] new token ids of all requests, packed.</param>
    /// <param name="qoIndptr">[B + 1] offsets of each request's tokens in <paramref name="tokens"/> (entries past B are not read).</param>
    /// <param name="logits">[B, vocab] logits of each request's last token, or [nnz, vocab] when <paramref name="allTokens"/>.</param>
    public void Forward(ReadOnlySpan<int> tokens, int[] qoIndptr, PageTable table, PagedKvCache cache, Span<float> logits, bool allTokens = false)
    {
        int batch = table.BatchSize;
        if (!table.FitsQoIndptr(qoIndptr) || qoIndptr[batch] != tokens.Length) throw new ArgumentException("qo_indptr does not match the tokens");
        int vocab = Config.VocabSize;
        if (logits.Length < (allTokens ? tokens.Length : batch) * vocab) throw new ArgumentException("logits buffer too small");
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id outside the vocabulary of {vocab}");

        // Split long inputs into chunks that fit the activation buffers. Each chunk is a valid prefix-causal step
        // because its page table sees only the positions written so far.
        int limit = MaxTokensPerForward;
        if (tokens.Length <= limit)
        {
            RunChunk(tokens, qoIndptr, table, cache, logits, allTokens);
            return;
        }
        if (batch != 1) throw new ArgumentException($"a batch of several requests may hold at most {limit} tokens per forward");
        int total = tokens.Length, kvEnd = table.KvLength(0);
        for (int start = 0; start < total; start += limit)
        {
            int n = Math.Min(limit, total - start);
            var partial = PageTable.ForSingle(new ArraySegment<int>(table.Indices, table.Indptr[0], table.Indptr[1] - table.Indptr[0]), kvEnd - total + start + n, table.PageSize);
            var chunkLogits = allTokens ? logits.Slice(start * vocab, n * vocab) : logits[..vocab];
            RunChunk(tokens.Slice(start, n), [0, n], partial, cache, chunkLogits, allTokens);
        }
    }

    private void RunChunk(ReadOnlySpan<int> tokens, int[] qoIndptr, PageTable table, PagedKvCache cache, Span<float> logits, bool allTokens)
    {
        var c = Config;
        int n = tokens.Length;
        var buf = _buffers is { } existing && existing.Capacity >= n ? existing : (_buffers = new ActivationBuffers(c, Math.Max(n, MaxTokensPerForward)));
        int dim = c.Dim;

        // Position of every new token and its cache slot.
        var positions = buf.Positions;
        for (int b = 0; b < table.BatchSize; b++)
        {
            int qoLen = qoIndptr[b + 1] - qoIndptr[b], first = table.KvLength(b) - qoLen;
            for (int i = 0; i < qoLen; i++) positions[qoIndptr[b] + i] = (b, first + i);
        }
        _step.Begin(buf, tokens, table, cache);
        try
        {
            _step.Run(TokenStage.Input, 0, n); // embeddings, RoPE angles (once for all layers) and the first layer's norm
            _attention.Plan(qoIndptr, table, c.Heads);
            // Requests with one new token (decode) that come first take the matrix-vector arithmetic, the rest the GEMM;
            // a decode token's values then never depend on what else is in the batch (see MatMul).
            int gemv = 0;
            while (gemv < table.BatchSize && qoIndptr[gemv + 1] - qoIndptr[gemv] == 1) gemv++;
            gemv = n <= IntegerPathMaxTokens ? n : qoIndptr[gemv];
            float scale = 1f / MathF.Sqrt(c.HeadDim);

            fixed (float* xn = buf.Normed, q = buf.Q, k = buf.K, v = buf.V, att = buf.Attention, gate = buf.Gate, up = buf.Up)
            {
                for (int l = 0; l < c.Layers; l++)
                {
                    var layer = _layers[l];
                    _matmul.Run(layer.Wq, q, layer.Wk, k, layer.Wv, v, xn, n, gemv);
                    _step.Run(TokenStage.QueryKeyValue, l, n); // biases, RoPE, K and V into the cache
                    _attention.Run(cache, l, q, att, scale);
                    _matmul.Run(layer.Wo, att, xn, n, gemv); // xn reused as the attention output projection
                    _step.Run(TokenStage.FeedForwardInput, l, n); // residual += attention; FFN norm
                    _matmul.Run(layer.Gate, gate, layer.Up, up, xn, n, gemv);
                    _step.Run(TokenStage.SiluAndMul, l, n);
                    _matmul.Run(layer.Down, gate, xn, n, gemv);
                    _step.Run(TokenStage.LayerOutput, l, n); // residual += FFN; the next layer's norm
                }
                // Final norm and the output head, only for the rows whose logits are wanted.
                int rows = allTokens ? n : table.BatchSize;
                for (int r = 0; r < rows; r++)
                {
                    int t = allTokens ? r : qoIndptr[r + 1] - 1;
                    Norms.RmsNorm(buf.Residual.AsSpan(t * dim, dim), _outputNorm, c.RmsEps, buf.Normed.AsSpan(r * dim, dim));
                }
                fixed (float* output = logits)
                    _matmul.Run(_output, xn, output, rows, allTokens && n > IntegerPathMaxTokens ? 0 : rows); // one row per request: always the decode arithmetic
            }
        }
        finally
        {
            _step.End(); // drops the references to the caller's page table and cache
        }
    }

    /// <summary>Activations of one forward, sized for a number of tokens. Shapes in comments are [tokens, width].</summary>
    private sealed class ActivationBuffers(LlamaConfig c, int capacity)
    {
        public readonly int Capacity = capacity;
        public readonly float[] Residual = Pinned(capacity * c.Dim);    // [n, dim]
        public readonly float[] Normed = Pinned(capacity * c.Dim);      // [n, dim]
        public readonly float[] Q = Pinned(capacity * c.QueryDim);      // [n, heads * headDim]
        public readonly float[] K = Pinned(capacity * c.KvDim);         // [n, kvHeads * headDim]
        public readonly float[] V = Pinned(capacity * c.KvDim);         // [n, kvHeads * headDim]
        public readonly float[] Attention = Pinned(capacity * c.QueryDim); // [n, heads * headDim]
        public readonly float[] Gate = Pinned(capacity * c.FfnDim);     // [n, ffn]
        public readonly float[] Up = Pinned(capacity * c.FfnDim);       // [n, ffn]
        public readonly int[] Tokens = new int[capacity];                // [n] the forward's token ids
        public readonly (int Request, int Position)[] Positions = new (int, int)[capacity];
        public readonly float[] RopeCos = new float[capacity * c.RopeDim / 2]; // [n, ropeDim / 2]
        public readonly float[] RopeSin = new float[capacity * c.RopeDim / 2];

        private static float[] Pinned(int length) => GC.AllocateArray<float>(length, pinned: true);
    }

    private enum TokenStage { Input, QueryKeyValue, FeedForwardInput, SiluAndMul, LayerOutput }

    /// <summary>
    /// The per-token work between a layer's matrix products (norms, RoPE, residual adds, the cache writes, SiLU).
    /// Each token's values are computed from that token's rows alone, exactly as one at a time, so a token's bits
    /// never depend on its batch. Batches of <see cref="ParallelTokens"/> or more run on the whole pool: one thread
    /// doing it alone left the others waiting (~5% of a 16-sequence decode step of the 135M shape).
    /// </summary>
    private sealed class TokenSteps(LlamaModel model) : IParallelWork
    {
        private const int ParallelTokens = 8;
        private ActivationBuffers _buf = null!;
        private PageTable _table = null!;
        private PagedKvCache _cache = null!;
        private TokenStage _stage;
        private int _layer;

        public void Begin(ActivationBuffers buf, ReadOnlySpan<int> tokens, PageTable table, PagedKvCache cache)
        {
            _buf = buf; _table = table; _cache = cache;
            tokens.CopyTo(buf.Tokens);
        }

        /// <summary>Drops the references to the caller's page table and cache.</summary>
        public void End()
        {
            _table = null!;
            _cache = null!;
        }

        public void Run(TokenStage stage, int layer, int n)
        {
            _stage = stage; _layer = layer;
            model._pool.For(n, this, ParallelTokens);
        }

        public void Execute(int t)
        {
            var c = model.Config;
            var buf = _buf;
            int dim = c.Dim, half = c.RopeDim / 2;
            var residual = buf.Residual.AsSpan(t * dim, dim);
            var normed = buf.Normed.AsSpan(t * dim, dim);
            var layer = model._layers[_layer];
            switch (_stage)
            {
                case TokenStage.Input:
                    model._embedding.DequantizeRow(buf.Tokens[t], residual);
                    // RoPE angles once per token for all layers (sin/cos are costly next to the rotation itself).
                    model._rope.Angles(buf.Positions[t].Position, buf.RopeCos.AsSpan(t * half, half), buf.RopeSin.AsSpan(t * half, half));
                    Norms.RmsNorm(residual, layer.AttnNorm, c.RmsEps, normed);
                    break;
                case TokenStage.QueryKeyValue:
                {
                    int qDim = c.QueryDim, kvDim = c.KvDim;
                    var qt = buf.Q.AsSpan(t * qDim, qDim);
                    var kt = buf.K.AsSpan(t * kvDim, kvDim);
                    var vt = buf.V.AsSpan(t * kvDim, kvDim);
                    if (layer.Bq != null) TensorPrimitives.Add(qt, layer.Bq, qt);
                    if (layer.Bk != null) TensorPrimitives.Add(kt, layer.Bk, kt);
                    if (layer.Bv != null) TensorPrimitives.Add(vt, layer.Bv, vt);
                    var (request, position) = buf.Positions[t];
                    var cos = buf.RopeCos.AsSpan(t * half, half);
                    var sin = buf.RopeSin.AsSpan(t * half, half);
                    model._rope.Apply(qt, c.Heads, kt, c.KvHeads, c.HeadDim, cos, sin);
                    var (page, entry) = _table.Slot(request, position);
                    _cache.Write(_layer, page, entry, kt, vt);
                    break;
                }
                case TokenStage.FeedForwardInput:
                    Norms.FusedAddRmsNorm(normed, residual, layer.FfnNorm, c.RmsEps, normed);
                    break;
                case TokenStage.SiluAndMul:
                {
                    var gate = buf.Gate.AsSpan(t * c.FfnDim, c.FfnDim);
                    Activations.SiluAndMul(gate, buf.Up.AsSpan(t * c.FfnDim, c.FfnDim), gate);
                    break;
                }
                case TokenStage.LayerOutput:
                    if (_layer + 1 < c.Layers) Norms.FusedAddRmsNorm(normed, residual, model._layers[_layer + 1].AttnNorm, c.RmsEps, normed);
                    else TensorPrimitives.Add(residual, normed, residual);
                    break;
            }
        }
    }

    public void Dispose()
    {
        _prepared.Dispose();
        if (_ownsPool) _pool.Dispose();
        if (_ownsFile) _file.Dispose();
    }
}
