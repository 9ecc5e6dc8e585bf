using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// y[t, r] = W[r, :] . x[t, :] for a batch of T activation rows, split over the worker pool by output rows.
/// Up to three matrices that read the same input (Q/K/V, gate/up) run in one fork/join, and their input is
/// quantized once. Each output element is computed by one thread, in an order fixed by the row length alone, so it
/// does not depend on the thread count or on how the rows were split.
/// <para>
/// Batch invariance: the first <c>gemvTokens</c> tokens of a call take the matrix-vector arithmetic (int8 dot
/// products for Q8_0/Q4_0/Q4_K/Q6_K, typed row dots otherwise), the rest the float GEMM. A token's result depends
/// only on which of the two it took, never on how many other tokens shared the call. The engine passes its decode
/// tokens (one new token per request) first and their count as <c>gemvTokens</c>, so a decode step gives the same
/// values alone or in any batch. Matrices where the integer path beats the GEMM (interleaved Q8_0/Q4_0, other Q4_0
/// with whole four-block groups, Q4_K) send every token through it, which keeps the same guarantee.
/// </para>
/// </summary>
public sealed unsafe class MatMul : IParallelWork
{
    private const int MinRowsPerItem = 16;
    private readonly int[] _rowsPerItem = new int[MaxGroup];
    private const int MaxGroup = 3;
    [ThreadStatic] private static float[]? t_rowBuffer;

    private readonly WorkerPool _pool;
    private readonly WeightMatrix[] _w = new WeightMatrix[MaxGroup];
    private readonly nint[] _y = new nint[MaxGroup];
    private readonly int[] _firstItem = new int[MaxGroup + 1];
    private int _count;
    private float* _x;
    private int _tokens;
    private int _gemvTokens;
    private readonly bool[] _everyTokenInteger = new bool[MaxGroup]; // matrix i sends every token through the integer path (IntegerBeatsGemm)
    private bool _integerPath;
    private bool _otherInteger;  // the integer call has a matrix without the interleaved copy (it reads the int8 values and sums)
    private bool _interleavedQ4; // ... an interleaved Q4_0 matrix laid out by column pairs (it reads the block sums)
    private bool _quads;         // ... a matrix laid out by column quads (the VNNI kernels read the chunked activations)
    // Quantized activations: [tokens, cols] int8 and [tokens, cols / 32] scales; pinned, grown on demand.
    private sbyte[] _xq = [];
    private float[] _xd = [];
    private int[] _xs = [];
    private short[] _x16 = []; // [tokens, cols] the int8 activations widened for InterleavedGemm
    // The same activations chunked for the VNNI kernels (InterleavedGemm.ChunkToken): values, scales, negated sums.
    private sbyte[] _xChunked = [];
    private float[] _xdChunked = [];
    private int[] _xsChunked = [];
    // [tokens, Q4_0Prepared*] the same quants in the order DotQ4_0Grouped reads, their scales and scaled sums
    private sbyte[] _xqPermuted = [];
    private float[] _xdPadded = [];
    private float[] _xsScaled = [];
    private bool _permuted;
    private sbyte[] _xqNegated = []; // [tokens, cols] -x, and [tokens, Q8_0SpreadFloats] spread block scales, for DotQ8_0GroupedTokens
    private float[] _xdSpread = [];
    // F16 rows: [tokens, cols] activations prepared for RowDot.F16Prepared, and whether each token's could be.
    private float[] _xHalfReady = [];
    private bool[] _halfReady = [];
    private bool _preparedF16;
    private bool _preparedQ8, _interleaved;
    private bool KQuant => _kQuantRows || KQuads; // the integer call has a Q4_K/Q6_K matrix: it reads activations in blocks of 256
    private sbyte[] _xk = [];         // [tokens, cols] int8 activations in blocks of 256
    private float[] _xkd = [];        // [tokens, cols / 256] their scales
    private short[] _xkPrepared = []; // [tokens, KQuantDot.PreparedShorts(cols)]
    private bool _kQuantRows;         // ... a K-quant matrix read row by row by KQuantDot (it reads _xkPrepared)
    private bool _q4kQuads, _q6kQuads; // ... a Q4_K/Q6_K matrix with the interleaved copy (the chunked super-block form)
    private bool KQuads => _q4kQuads || _q6kQuads;
    // The super-block activations chunked for InterleavedGemm.RunKQuant: values, Q4_K's block sums, Q6_K's -32 x sums
    // of 16, super-block scales.
    private sbyte[] _xkChunked = [];
    private int[] _xkSumsChunked = [];
    private int[] _xkOffsetSumsChunked = [];
    private float[] _xkdChunked = [];
    private readonly TokenPreparation _preparation;


    public MatMul(WorkerPool pool)
    {
        _pool = pool;
        _preparation = new TokenPreparation(this);
    }

    /// <summary>
    /// Use int8 activations with Q8_0/Q4_0 weights (blocks of 32) and Q4_K/Q6_K weights (blocks of 256, with
    /// AVX-512BW), as llama.cpp does: much faster, and within the precision of the weights. When false every type
    /// takes the float path (exact float32 products of dequantized weights).
    /// </summary>
    public bool QuantizeActivations { get; set; } = true;

    /// <summary>
    /// The leading <c>gemvTokens</c> of a call (the engine's decode tokens) take the float tile GEMM instead of the
    /// matrix-vector arithmetic: the serving engine's GEMM decode. A decode token then has the tile's bits alone or in
    /// any batch. Matrices whose every token takes the integer path (<see cref="IntegerBeatsGemm"/>) keep it.
    /// </summary>
    public bool MatrixVectorTokensTakeTile { get; set; }

    /// <summary>
    /// The integer path is used for at most this many tokens per call (decode steps). Larger batches go through the
    /// register-blocked float GEMM over dequantized rows, which is faster once a row feeds four or more tokens.
    /// </summary>
    public int IntegerPathMaxTokens { get; set; } = 3;

    /// <summary>
    /// Whether matrices of this type multiply int8-quantized activations on this machine (for decode tokens, and for
    /// every token where <see cref="IntegerBeatsGemm"/>): Q8_0 and Q4_0 everywhere, Q4_K and Q6_K with AVX-512BW.
    /// </summary>
    public static bool HasIntegerPath(GgmlType type) => IntegerDot.IsSupported(type) || KQuantDot.IsSupported(type);

    /// <summary>
    /// Interleaved Q8_0/Q4_0 matrices (<see cref="InterleavedGemm"/>) take it for every token: its 16-bit multiply-adds
    /// beat the float GEMM 1.5-1.9x at 16-128 tokens and the int8 matrix-vector dots of Q8_0 1.3-1.6x at one token, and
    /// its VNNI kernels (where the CPU has them) about double the 16-bit ones once several tokens share a row.
    /// Q4_0 rows made of whole groups of four blocks (columns a multiple of 128) take the int8 path for every token,
    /// prompts included: its unsigned nibbles need no sign fix-up, so four blocks cost about nine instructions a
    /// token, and prompt processing of the 1.1B shape ran 1.23-1.30x faster than the float GEMM (128 tokens, two
    /// threads, in-process A/B) and 16-sequence decode 1.4x. Rows with a partial last group (576 columns) stay on the
    /// GEMM, which the int8 path only ties there (0.94-1.0x at 64-128 tokens, one thread), and so does Q8_0, whose
    /// sign fix-up makes it ~0.55x. The choice depends on the matrix alone, so a token's values still do not depend
    /// on its batch. Q4_K takes it for every token too (<see cref="KQuantDot"/>, four tokens per pass over a row):
    /// 5632 x 2048 on two threads, 1.45x the float GEMM at 16 tokens and 1.09x at 128; Q6_K, whose unpacking costs
    /// more, gains less at 16 tokens (1.2x) and loses at 128 (0.82x), so it keeps the GEMM for prompts, unless it has
    /// the interleaved copy of the VNNI kernels (<see cref="InterleavedGemm.AppliesKQuant"/>; Q6_K prompts of the 1.1B
    /// shape 3.2-3.5x the GEMM's speed), which every Q4_K and Q6_K token then takes.
    /// </summary>
    private static bool IntegerBeatsGemm(in WeightMatrix w) =>
        InterleavedGemm.Applies(w) || w.Type == GgmlType.Q4_0 && w.Scales != null && IntegerDot.HasGroupedQ4_0 && w.Columns % 128 == 0
        || w.Type == GgmlType.Q4_K && KQuantDot.HasKernels || InterleavedGemm.AppliesKQuant(w);

    /// <param name="w">[rows, cols] weights.</param>
    /// <param name="x">[tokens, cols] activations, row-major.</param>
    /// <param name="y">[tokens, rows] outputs.</param>
    /// <param name="gemvTokens">How many leading tokens take the matrix-vector arithmetic; -1 = decide by count
    /// (one token, or up to <see cref="IntegerPathMaxTokens"/> with int8 activations).</param>
    public void Run(in WeightMatrix w, float* x, float* y, int tokens, int gemvTokens = -1)
    {
        _w[0] = w; _y[0] = (nint)y; _count = 1;
        Execute(x, tokens, gemvTokens);
    }

    /// <summary>Two products of the same input in one fork/join (e.g. gate and up).</summary>
    public void Run(in WeightMatrix a, float* ya, in WeightMatrix b, float* yb, float* x, int tokens, int gemvTokens = -1)
    {
        _w[0] = a; _y[0] = (nint)ya; _w[1] = b; _y[1] = (nint)yb; _count = 2;
        Execute(x, tokens, gemvTokens);
    }

    /// <summary>Three products of the same input in one fork/join (e.g. Q, K and V).</summary>
    public void Run(in WeightMatrix a, float* ya, in WeightMatrix b, float* yb, in WeightMatrix c, float* yc, float* x, int tokens, int gemvTokens = -1)
    {
        _w[0] = a; _y[0] = (nint)ya; _w[1] = b; _y[1] = (nint)yb; _w[2] = c; _y[2] = (nint)yc; _count = 3;
        Execute(x, tokens, gemvTokens);
    }

    private void Execute(float* x, int tokens, int gemvTokens)
    {
        int cols = _w[0].Columns;
        bool integer = QuantizeActivations && cols % ActivationQuantizer.BlockSize == 0;
        _firstItem[0] = 0;
        for (int i = 0; i < _count; i++)
        {
            if (_w[i].Columns != cols) throw new ArgumentException("grouped matrices must have the same number of columns");
            integer &= HasIntegerPath(_w[i].Type);
            // About 8 items per thread: enough to balance, few enough that threads stream long contiguous runs.
            int rowsPerItem = Math.Max(MinRowsPerItem, (_w[i].Rows + 8 * _pool.Threads - 1) / (8 * _pool.Threads) + 3 & ~3);
            // Whole interleaved groups (the split decides only which thread computes a row, not how).
            if (InterleavedGemm.Applies(_w[i]) || InterleavedGemm.AppliesKQuant(_w[i])) rowsPerItem = (rowsPerItem + InterleavedGemm.GroupRows - 1) & ~(InterleavedGemm.GroupRows - 1);
            _rowsPerItem[i] = rowsPerItem;
            _firstItem[i + 1] = _firstItem[i] + (_w[i].Rows + rowsPerItem - 1) / rowsPerItem;
        }
        if (gemvTokens < 0) gemvTokens = tokens == 1 || integer && tokens <= IntegerPathMaxTokens ? tokens : 0;
        if (gemvTokens > tokens) throw new ArgumentOutOfRangeException(nameof(gemvTokens), gemvTokens, "more matrix-vector tokens than tokens");
        // Each matrix decides for itself whether every token takes the integer path (a Q4_K matrix beside a Q6_K
        // one in a Q/K/V group does; the Q6_K one keeps the GEMM for the others): a choice of the matrix alone.
        int quantizedTokens = gemvTokens;
        bool anyEveryToken = false;
        for (int i = 0; i < _count; i++)
        {
            _everyTokenInteger[i] = integer && IntegerBeatsGemm(_w[i]);
            anyEveryToken |= _everyTokenInteger[i];
        }
        if (anyEveryToken) quantizedTokens = tokens;
        _gemvTokens = gemvTokens;
        _integerPath = integer && (anyEveryToken || gemvTokens > 0 && !MatrixVectorTokensTakeTile);
        _x = x; _tokens = tokens;
        _permuted = _preparedQ8 = _interleaved = _preparedF16 = false;
        if (gemvTokens > 0 && RowDot.HasPreparedF16 && !MatrixVectorTokensTakeTile)
            for (int i = 0; i < _count; i++)
                if (_w[i].Type == GgmlType.F16) _preparedF16 = true;
        if (_preparedF16) PrepareHalfRows(x, gemvTokens, cols);
        if (_integerPath)
        {
            // Each kernel's own form of the activations, made once for every matrix of the call that reads it.
            _otherInteger = _interleavedQ4 = _quads = _kQuantRows = _q4kQuads = _q6kQuads = false;
            for (int i = 0; i < _count; i++)
            {
                if (InterleavedGemm.Applies(_w[i]) && _w[i].InterleavedLayout == InterleavedLayout.ColumnQuads) { _quads = true; continue; }
                if (InterleavedGemm.Applies(_w[i])) { _interleaved = true; _interleavedQ4 |= _w[i].Type == GgmlType.Q4_0; continue; }
                if (InterleavedGemm.AppliesKQuant(_w[i]))
                {
                    if (_w[i].Type == GgmlType.Q4_K) _q4kQuads = true; else _q6kQuads = true;
                    continue;
                }
                if (KQuantDot.IsSupported(_w[i].Type)) { _kQuantRows = true; continue; }
                _otherInteger = true;
                if (_w[i].Scales == null || !IntegerDot.HasGroupedQ4_0) continue;
                if (_w[i].Type == GgmlType.Q4_0) _permuted = true;
                else if (_w[i].Type == GgmlType.Q8_0 && gemvTokens > 1) _preparedQ8 = true; // one token takes DotQ8_0Grouped, which needs no preparation
            }
            EnsureActivationBuffers(quantizedTokens, cols);
            // Token by token, each independently of the others (so a token's values never depend on its batch); many
            // tokens (prompts, batched decode) are spread over the pool instead of leaving the other threads waiting,
            // 8 tokens per item, so that no two threads write the same cache lines: the VNNI kernels' chunked form puts
            // 8 tokens' blocks side by side, and with one item per token the two threads' writes to shared lines took
            // the preparation from ~14 to ~100 ns per block of 32 (135M shape, 32-sequence decode: 15% of the run).
            _preparedTokens = quantizedTokens;
            _pool.For((quantizedTokens + PreparationChunk - 1) / PreparationChunk, _preparation, 1);
        }
        _pool.For(_firstItem[_count], this);
    }

    /// <summary>Grows the activation buffers of the integer path for <paramref name="tokens"/> rows of <paramref name="cols"/>.</summary>
    private void EnsureActivationBuffers(int tokens, int cols)
    {
        long n = (long)tokens * cols;
        if (_otherInteger || _interleaved) // token-major blocks of 32 (VNNI-only calls quantize straight into the chunked form)
        {
            if (_xq.Length < n) _xq = GC.AllocateArray<sbyte>((int)Math.Max(n, 2L * _xq.Length), pinned: true);
            if (_xd.Length < n / 32)
            {
                _xd = GC.AllocateArray<float>((int)Math.Max(n / 32, 2L * _xd.Length), pinned: true);
                _xs = GC.AllocateArray<int>(_xd.Length, pinned: true);
            }
        }
        if (_interleaved && _x16.Length < n) _x16 = GC.AllocateArray<short>(_xq.Length, pinned: true);
        if (_quads)
        {
            long bytes = InterleavedGemm.ChunkedBytes(tokens, cols), entries = InterleavedGemm.ChunkedBlockEntries(tokens, cols);
            if (_xChunked.Length < bytes) _xChunked = GC.AllocateArray<sbyte>((int)Math.Max(bytes, 2L * _xChunked.Length), pinned: true);
            if (_xdChunked.Length < entries)
            {
                _xdChunked = GC.AllocateArray<float>((int)Math.Max(entries, 2L * _xdChunked.Length), pinned: true);
                _xsChunked = GC.AllocateArray<int>(_xdChunked.Length, pinned: true);
            }
        }
        if (_preparedQ8)
        {
            long spread = (long)tokens * IntegerDot.Q8_0SpreadFloats(cols);
            if (_xqNegated.Length < n) _xqNegated = GC.AllocateArray<sbyte>(_xq.Length, pinned: true);
            if (_xdSpread.Length < spread) _xdSpread = GC.AllocateArray<float>((int)Math.Max(spread, 2L * _xdSpread.Length), pinned: true);
        }
        if (KQuant)
        {
            long kp = (long)tokens * KQuantDot.PreparedShorts(cols);
            if (_xk.Length < n) _xk = GC.AllocateArray<sbyte>((int)Math.Max(n, 2L * _xk.Length), pinned: true);
            if (_xkd.Length < n / 256) _xkd = GC.AllocateArray<float>((int)Math.Max(n / 256, 2L * _xkd.Length), pinned: true);
            if (_kQuantRows && _xkPrepared.Length < kp) _xkPrepared = GC.AllocateArray<short>((int)Math.Max(kp, 2L * _xkPrepared.Length), pinned: true);
            if (KQuads)
            {
                long bytes = InterleavedGemm.ChunkedBytes(tokens, cols), entries = InterleavedGemm.ChunkedBlockEntries(tokens, cols);
                long superEntries = InterleavedGemm.ChunkedSuperBlockEntries(tokens, cols);
                if (_xkChunked.Length < bytes) _xkChunked = GC.AllocateArray<sbyte>((int)Math.Max(bytes, 2L * _xkChunked.Length), pinned: true);
                if (_q4kQuads && _xkSumsChunked.Length < entries) _xkSumsChunked = GC.AllocateArray<int>((int)Math.Max(entries, 2L * _xkSumsChunked.Length), pinned: true);
                if (_q6kQuads && _xkOffsetSumsChunked.Length < 2 * entries)
                    _xkOffsetSumsChunked = GC.AllocateArray<int>((int)Math.Max(2 * entries, 2L * _xkOffsetSumsChunked.Length), pinned: true);
                if (_xkdChunked.Length < superEntries) _xkdChunked = GC.AllocateArray<float>((int)Math.Max(superEntries, 2L * _xkdChunked.Length), pinned: true);
            }
        }
        if (_permuted)
        {
            long pq = (long)tokens * IntegerDot.Q4_0PreparedBytes(cols), ps = (long)tokens * IntegerDot.Q4_0PreparedScales(cols);
            if (_xqPermuted.Length < pq) _xqPermuted = GC.AllocateArray<sbyte>((int)Math.Max(pq, 2L * _xqPermuted.Length), pinned: true);
            if (_xdPadded.Length < ps) _xdPadded = GC.AllocateArray<float>((int)Math.Max(ps, 2L * _xdPadded.Length), pinned: true);
            if (_xsScaled.Length < ps) _xsScaled = GC.AllocateArray<float>((int)Math.Max(ps, 2L * _xsScaled.Length), pinned: true);
        }
    }

    /// <summary>Token t's int8 activations and the forms its call's kernels read (widened, negated, permuted).</summary>
    private void PrepareToken(int t)
    {
        int cols = _w[0].Columns, blocks = cols / 32;
        var x = new ReadOnlySpan<float>(_x + (long)t * cols, cols);
        if (KQuant)
        {
            // The K-quant kernels' own form: blocks of 256 (one scale per super-block) and its row-independent terms.
            var xk = _xk.AsSpan(t * cols, cols);
            var xkd = _xkd.AsSpan(t * (cols / 256), cols / 256);
            ActivationQuantizer.QuantizeSuperBlocks(x, xk, xkd);
            if (_kQuantRows)
            {
                int kp = KQuantDot.PreparedShorts(cols);
                KQuantDot.Prepare(xk, _xkPrepared.AsSpan(t * kp, kp));
            }
            if (KQuads)
                fixed (sbyte* chunked = _xkChunked) fixed (int* sums = _xkSumsChunked) fixed (int* offsetSums = _xkOffsetSumsChunked) fixed (float* chunkedScales = _xkdChunked)
                    InterleavedGemm.ChunkTokenSuperBlocks(t, xk, xkd, chunked, chunkedScales, _q4kQuads ? sums : null, _q6kQuads ? offsetSums : null);
        }
        if (!_interleaved && !_otherInteger && !_quads) return; // no kernel of the call reads the blocks of 32
        if (_quads && !_interleaved && !_otherInteger)
        {
            // The VNNI kernels alone: straight into their chunked form.
            fixed (sbyte* chunked = _xChunked) fixed (float* chunkedScales = _xdChunked) fixed (int* negatedSums = _xsChunked)
                InterleavedGemm.QuantizeChunkToken(t, x, chunked, chunkedScales, negatedSums);
            return;
        }
        var xq = _xq.AsSpan(t * cols, cols);
        var xd = _xd.AsSpan(t * blocks, blocks);
        var xs = _xs.AsSpan(t * blocks, blocks);
        // The column-pair kernels read only the int16 form (and the sums for Q4_0); the int8 values and the sums are
        // made only for the call's other kernels.
        if (_interleaved) ActivationQuantizer.QuantizeWidened(x, _x16.AsSpan(t * cols, cols), xd, _otherInteger || _quads ? xq : default, _otherInteger || _interleavedQ4 || _quads ? xs : default);
        else ActivationQuantizer.Quantize(x, xq, xd, xs);
        if (_quads)
            fixed (sbyte* chunked = _xChunked) fixed (float* chunkedScales = _xdChunked) fixed (int* negatedSums = _xsChunked)
                InterleavedGemm.ChunkToken(t, xq, xd, xs, chunked, chunkedScales, negatedSums);
        if (_preparedQ8)
        {
            int spread = IntegerDot.Q8_0SpreadFloats(cols);
            IntegerDot.PrepareQ8_0Tokens(xq, xd, _xqNegated.AsSpan(t * cols, cols), _xdSpread.AsSpan(t * spread, spread));
        }
        if (_permuted)
        {
            int pq = IntegerDot.Q4_0PreparedBytes(cols), ps = IntegerDot.Q4_0PreparedScales(cols);
            IntegerDot.PrepareQ4_0(xq, xd, xs, _xqPermuted.AsSpan(t * pq, pq), _xdPadded.AsSpan(t * ps, ps), _xsScaled.AsSpan(t * ps, ps));
        }
    }

    private int _preparedTokens;
    /// <summary>Tokens per preparation item: the VNNI kernels' chunk (whole chunks per thread), and calls of up to 8 tokens stay on one thread.</summary>
    private const int PreparationChunk = 8;

    /// <summary>The activation preparation of one call as pool work, one item per 8 tokens.</summary>
    private sealed class TokenPreparation(MatMul owner) : IParallelWork
    {
        public void Execute(int index)
        {
            int end = Math.Min(owner._preparedTokens, (index + 1) * PreparationChunk);
            for (int t = index * PreparationChunk; t < end; t++) owner.PrepareToken(t);
        }
    }

    private void PrepareHalfRows(float* x, int tokens, int cols)
    {
        long n = (long)tokens * cols;
        if (_xHalfReady.Length < n + 16) _xHalfReady = GC.AllocateArray<float>((int)Math.Max(n + 16, 2L * _xHalfReady.Length), pinned: true);
        if (_halfReady.Length < tokens) _halfReady = new bool[Math.Max(tokens, 2 * _halfReady.Length)];
        float* prepared = HalfReadyBase;
        for (int t = 0; t < tokens; t++) _halfReady[t] = RowDot.PrepareF16(x + (long)t * cols, prepared + (long)t * cols, cols);
    }

    /// <summary>The prepared F16 activations, 64-byte aligned: a 512-bit load that straddles two cache lines costs two.</summary>
    private float* HalfReadyBase
    {
        get
        {
            float* p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_xHalfReady)); // pinned array
            return (float*)(((nint)p + 63) & ~(nint)63);
        }
    }

    void IParallelWork.Execute(int item)
    {
        int m = 0;
        while (item >= _firstItem[m + 1]) m++;
        ref readonly var w = ref _w[m];
        float* y = (float*)_y[m];
        int start = (item - _firstItem[m]) * _rowsPerItem[m], end = Math.Min(w.Rows, start + _rowsPerItem[m]);
        int gemvTokens = _everyTokenInteger[m] ? _tokens : _gemvTokens;
        if (gemvTokens > 0)
        {
            if (_everyTokenInteger[m]) IntegerRows(w, y, start, end, gemvTokens);
            else if (MatrixVectorTokensTakeTile) GemmRows(w, y, start, end, 0, gemvTokens);
            else if (_integerPath) IntegerRows(w, y, start, end, gemvTokens);
            else if (w.Type == GgmlType.F32 && F32Rows.Applies(w.Columns))
                for (int t = 0; t < gemvTokens; t++)
                    F32Rows.Dot(w, start, end, _x + (long)t * w.Columns, y + (long)t * w.Rows);
            else if (_preparedF16 && w.Type == GgmlType.F16) HalfRows(w, y, start, end);
            else
                // Typed dot products straight from the stored rows. A row stays in cache while its tokens pass.
                for (int r = start; r < end; r++)
                    for (int t = 0; t < gemvTokens; t++)
                        y[(long)t * w.Rows + r] = RowDot.Dot(w.Type, w.Data + (long)r * w.RowBytes, _x + (long)t * w.Columns, w.Columns);
        }
        if (_tokens > gemvTokens) GemmRows(w, y, start, end, gemvTokens, _tokens - gemvTokens);
    }

    /// <summary>
    /// F16 rows against the prepared activations. A column-blocked copy is read block by block, each block one
    /// contiguous stream over the rows, a row's value being the sum of its blocks' partial dots in block order (fixed
    /// by the matrix, so batch-invariant); otherwise row by row, short rows (the 135M shape's 1152 bytes) requested 8
    /// ahead as in IntegerRows (+9-13% decode at one thread, +3-5% at two, in-process A/B). A token whose activations
    /// could not be prepared takes the plain dot; that depends on the token alone, not on the batch.
    /// </summary>
    private void HalfRows(in WeightMatrix w, float* y, int start, int end)
    {
        float* prepared = HalfReadyBase;
        int cols = w.Columns, bc = w.BlockColumns;
        if (w.Blocked == null)
        {
            int ahead = w.RowBytes < 2048 ? 8 : 0;
            for (int r = start; r < end; r++) // a row stays in cache while its tokens pass
            {
                if (ahead > 0 && r + ahead < end) PrefetchRows(w, r + ahead, 1);
                byte* row = w.Data + (long)r * w.RowBytes;
                for (int t = 0; t < _gemvTokens; t++)
                    y[(long)t * w.Rows + r] = _halfReady[t]
                        ? RowDot.F16Prepared(row, prepared + (long)t * cols, _x + (long)t * cols, cols)
                        : RowDot.Dot(GgmlType.F16, row, _x + (long)t * cols, cols);
            }
            return;
        }
        for (int t = 0; t < _gemvTokens; t++)
        {
            float* xt = _x + (long)t * cols, pt = prepared + (long)t * cols, yt = y + (long)t * w.Rows;
            if (!_halfReady[t])
                for (int r = start; r < end; r++) yt[r] = RowDot.Dot(GgmlType.F16, w.Data + (long)r * w.RowBytes, xt, cols);
            else
                for (int b = 0; b < cols / bc; b++)
                {
                    byte* block = w.Blocked + (long)b * w.Rows * bc * 2;
                    for (int r = start; r < end; r++)
                    {
                        float part = RowDot.F16PreparedBlock(block + (long)r * bc * 2, pt + b * bc, xt + b * bc, bc);
                        yt[r] = b == 0 ? part : yt[r] + part;
                    }
                }
        }
    }

    /// <summary>Requests rows [row, row + count) into L2 from wherever the kernels read them: the column-blocked or packed copy, else the stored rows.</summary>
    private static void PrefetchRows(in WeightMatrix w, int row, long count)
    {
        if (w.Blocked != null)
        {
            long blockRowBytes = w.BlockColumns * 2L;
            for (int b = 0; b < w.Columns / w.BlockColumns; b++)
                CachePrefetch.ToL2(w.Blocked + ((long)b * w.Rows + row) * blockRowBytes, count * blockRowBytes);
        }
        else if (w.Packed != null) CachePrefetch.ToL2(w.Packed + (long)row * w.PackedRowBytes, count * w.PackedRowBytes);
        else CachePrefetch.ToL2(w.Data + (long)row * w.RowBytes, count * w.RowBytes);
    }

    private void IntegerRows(in WeightMatrix w, float* y, int start, int end, int tokens)
    {
        int cols = w.Columns, rows = w.Rows;
        if (InterleavedGemm.Applies(w))
        {
            if (w.InterleavedLayout == InterleavedLayout.ColumnQuads)
                fixed (sbyte* chunked = _xChunked) fixed (float* chunkedScales = _xdChunked) fixed (int* negatedSums = _xsChunked)
                    InterleavedGemm.RunQuads(w, start, end, chunked, chunkedScales, negatedSums, tokens, y, rows);
            else
                fixed (short* x16 = _x16) fixed (float* xd = _xd) fixed (int* xs = _xs) InterleavedGemm.Run(w, start, end, x16, xd, xs, tokens, y, rows);
            return;
        }
        // The rows the kernels read: the packed (Q4_K: repacked) copy when there is one, else the stored blocks.
        byte* readBase = w.Packed != null ? w.Packed : w.Data;
        long readBytes = w.Packed != null ? w.PackedRowBytes : w.RowBytes;
        if (InterleavedGemm.AppliesKQuant(w))
        {
            fixed (sbyte* chunked = _xkChunked) fixed (int* sums = _xkSumsChunked) fixed (int* offsetSums = _xkOffsetSumsChunked) fixed (float* chunkedScales = _xkdChunked)
                InterleavedGemm.RunKQuant(w, start, end, chunked, w.Type == GgmlType.Q4_K ? sums : offsetSums, chunkedScales, tokens, y, rows);
            return;
        }
        if (KQuantDot.IsSupported(w.Type))
        {
            // Q4_K requests the row ~12 KB ahead into L2 before each row: decode of the 1.1B shape +7-8% at one and two
            // threads (in-process A/B, alternating runs). Q6_K measured 5-8% slower with it (at both thread counts;
            // a lone 200 MB matrix in isolation ran faster with it, the model did not), so it leaves its rows to the
            // hardware prefetcher.
            int kAhead = w.Type == GgmlType.Q4_K ? (int)Math.Max(2, 12288 / readBytes) : 0;
            fixed (sbyte* xk = _xk) fixed (float* xkd = _xkd) fixed (short* prepared = _xkPrepared)
                for (int r = start; r < end; r++)
                {
                    if (kAhead > 0 && r + kAhead < end) CachePrefetch.ToL2(readBase + (r + kAhead) * readBytes, readBytes);
                    KQuantDot.Dot(w.Type, w.Data + (long)r * w.RowBytes, xk, xkd, prepared, cols, tokens, y + r, rows,
                        w.Packed == null ? null : w.Packed + (long)r * w.PackedRowBytes);
                }
            return;
        }
        bool groupedQ4 = _permuted && w.Type == GgmlType.Q4_0 && w.Scales != null;
        bool groupedQ8 = w.Type == GgmlType.Q8_0 && w.Scales != null && IntegerDot.HasGroupedQ4_0;
        // Short rows (the 135M shape's ~300-1600 bytes) decode ~8% faster with the rows 8 ahead requested early;
        // long rows stream at full bandwidth through the hardware prefetcher alone (measured: no gain at 1.1B).
        int ahead = w.RowBytes < 2048 ? 8 : 0;
        fixed (sbyte* xq = _xq) fixed (sbyte* xp = _xqPermuted) fixed (float* xd = _xd) fixed (int* xs = _xs) fixed (sbyte* xn = _xqNegated) fixed (float* xds = _xdSpread)
        fixed (float* xdp = _xdPadded) fixed (float* xsc = _xsScaled)
            for (int r = start; r < end; r++)
            {
                byte* row = w.Data + (long)r * w.RowBytes;
                float* rowScales = w.Scales == null ? null : w.Scales + (long)r * (cols / 32);
                byte* packed = w.Packed == null ? null : w.Packed + (long)r * w.PackedRowBytes;
                if (ahead > 0 && r + ahead < end) CachePrefetch.ToL2(readBase + (r + ahead) * readBytes, readBytes);
                // One token: the single-token kernels, ~10% faster alone and bit-identical to the multi-token ones.
                if (groupedQ8 && tokens == 1) y[r] = IntegerDot.DotQ8_0Grouped(row, rowScales, xq, xd, cols, (sbyte*)packed);
                else if (groupedQ8) IntegerDot.DotQ8_0GroupedTokens(row, rowScales, xq, xn, xds, cols, tokens, y + r, rows, (sbyte*)packed);
                else if (groupedQ4 && tokens == 1) y[r] = IntegerDot.DotQ4_0Grouped(row, rowScales, xp, xdp, xsc, cols, packed);
                else if (groupedQ4) IntegerDot.DotQ4_0GroupedTokens(row, rowScales, xp, xdp, xsc, cols, tokens, y + r, rows, packed);
                else
                    for (int t = 0; t < tokens; t++)
                        y[(long)t * rows + r] = IntegerDot.Dot(w.Type, row, rowScales, xq + (long)t * cols, xd + (long)t * cols / 32, xs + (long)t * cols / 32, cols);
            }
    }

    /// <summary>Tokens [first, first + count): a register-blocked float GEMM over tiles of 4 rows, dequantized once per tile.</summary>
    private void GemmRows(in WeightMatrix w, float* y, int start, int end, int first, int count)
    {
        int cols = w.Columns, rows = w.Rows;
        var buffer = t_rowBuffer is { } b && b.Length >= 4 * cols ? b : (t_rowBuffer = new float[Math.Max(4 * cols, 4 * 4096)]);
        fixed (float* tile = buffer)
            for (int r = start; r < end; r += 4)
            {
                int n = Math.Min(4, end - r);
                float* rowsBase;
                if (w.Type == GgmlType.F32) rowsBase = (float*)(w.Data + (long)r * w.RowBytes);
                else
                {
                    for (int i = 0; i < n; i++) TileDequantizer.Row(w, r + i, tile + i * cols);
                    rowsBase = tile;
                    // The weights come from memory once per step; ask for the next tile's rows now so they arrive
                    // while this tile multiplies, instead of stalling the dequantizer (it took ~14% of a 32-token
                    // step on the 135M shape, ~8% with this).
                    if (r + 4 < end) PrefetchRows(w, r + 4, Math.Min(4, end - r - 4));
                }
                FloatGemm.Tile(rowsBase, n, cols, _x + (long)first * cols, count, y + (long)first * rows + r, rows);
            }
    }
}
