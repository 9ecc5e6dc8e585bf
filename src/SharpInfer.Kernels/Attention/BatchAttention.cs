using System.Diagnostics;
using System.Runtime.CompilerServices;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// FlashInfer-style batch attention of a ragged batch of queries over a paged KV cache: decode (one query per
/// request) and prefill/append (several, bottom-right aligned), GQA, any <see cref="IAttentionVariant"/>.
/// <para>
/// <see cref="Plan"/> runs once per engine step: it cuts the batch into work items (request, KV heads, query tile,
/// KV chunk) - a prefill tile takes one KV head, a decode item all of them so that it reads whole pages - splits long
/// KV into chunks, assigns the items statically to the pool's threads (largest first onto the least-loaded thread)
/// and sizes every workspace. <see cref="Run{TVariant}"/> runs once per layer and allocates
/// nothing: each thread runs its own item list; items whose (tile, head) was split write partial states that a second
/// pass merges in chunk order.
/// </para>
/// <para>
/// Determinism: every item computes the same bits whichever thread runs it and merges follow chunk order, so results
/// are bit-identical run to run. Chunk boundaries depend only on the batch and the options, not on the thread count,
/// for pools of up to 16 threads (see <see cref="AttentionPlanOptions.MaxKvChunk"/>), so the bits are also the same on
/// any such pool.
/// </para>
/// </summary>
public sealed unsafe class BatchAttention
{
    private struct WorkItem
    {
        public AttentionKernel.Item Geometry;
        public int TokenStart;    // first packed query token of the tile
        public int PartialRow;    // first row of its partial state in the workspace, -1 when it writes the output
        public int Cost;
    }

    private struct MergeTask
    {
        public int TokenStart, Tokens, KvHead, KvHeads, FirstPartialRow, Chunks;
    }

    private readonly WorkerPool _pool;
    private readonly MergeWork _merger;
    private object? _runner; // the Runner<TVariant> of the last variant run

    // The plan.
    private int[] _qoIndptr = [];
    private PageTable? _table;
    private int _qoHeads, _kvHeads, _headDim, _group, _maxRows, _lists;
    private WorkItem[] _items = new WorkItem[16];
    private int _itemCount;
    private int[] _listItems = new int[16];   // item ids, list by list
    private int[] _listIndptr = [];           // [lists + 1]
    private MergeTask[] _merges = new MergeTask[16];
    private int _mergeCount;

    // Workspaces, pinned so that Run can hold raw pointers; grown only by Plan.
    private float[] _partialO = [];    // [partial rows, headDim]
    private float[] _partialLse = [];  // [partial rows]
    private float[] _scratch = [];     // [lists, scratch floats]
    private nint[] _followRows = [];   // [lists, 2, block keys] K and V rows of the first block of a list's next item
    private long _scratchFloats;
    // Scheduling scratch.
    private long[] _sortKeys = new long[16]; // (cost, item) keys of the largest-first order
    private int[] _order = new int[16];      // items in assignment order
    private int[] _owner = new int[16];      // thread of each item
    private long[] _loads = [];              // [lists] assigned cost per thread
    private long[] _listTicks = [];          // [lists] busy time of each thread's list in the last Run (Stopwatch ticks)
    private int[] _heap = [];                // [lists] min-heap of threads by (load, id)
    private int[] _fill = [];                // [lists] next free slot of each list

    // Arguments of the current Run, read by the workers.
    private PagedKvView _kv;
    private float* _q, _o, _lse;

    public BatchAttention(WorkerPool pool)
    {
        _pool = pool ?? throw new ArgumentNullException(nameof(pool));
        _merger = new MergeWork(this);
    }

    /// <summary>Work items of the current plan.</summary>
    public int WorkItemCount => _itemCount;
    /// <summary>(tile, head) pairs of the current plan whose KV was split and whose partial states get merged.</summary>
    public int SplitCount => _mergeCount;
    /// <summary>Number of items of each thread's list (for tests and the benchmark).</summary>
    public int ItemsOfThread(int thread) => _listIndptr[thread + 1] - _listIndptr[thread];

    /// <summary>
    /// How evenly the last <see cref="Run{TVariant}"/> loaded the threads: the mean of the threads' busy times over
    /// the longest (1 = perfect balance). Busy time is each thread's item list from its first item to its last, so
    /// it measures the partition, not how the memory system scales with threads.
    /// </summary>
    public double LastRunBalance
    {
        get
        {
            long max = 0, sum = 0;
            for (int i = 0; i < _lists && i < _listTicks.Length; i++) { max = Math.Max(max, _listTicks[i]); sum += _listTicks[i]; }
            return max == 0 ? 1 : (double)sum / _lists / max;
        }
    }

    /// <summary>
    /// Plans one engine step; every layer's <see cref="Run{TVariant}"/> reuses it. The arrays are kept, not copied:
    /// do not change them before the step is done.
    /// </summary>
    /// <param name="qoIndptr">[B + 1] offsets of each request's queries in the packed [nnz, Hq, D] query tensor (entries past B are not read).</param>
    /// <param name="table">the requests' pages; request b has table.KvLength(b) keys.</param>
    public void Plan(int[] qoIndptr, PageTable table, int numQoHeads, int numKvHeads, int headDim, AttentionPlanOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(qoIndptr);
        ArgumentNullException.ThrowIfNull(table);
        options ??= AttentionPlanOptions.Default;
        int batch = table.BatchSize;
        if (!table.FitsQoIndptr(qoIndptr)) throw new ArgumentException($"qo_indptr has {qoIndptr.Length} entries, the page table {batch} requests");
        if (qoIndptr[0] != 0) throw new ArgumentException($"qo_indptr starts at {qoIndptr[0]}, not 0");
        for (int b = 0; b < batch; b++)
            if (qoIndptr[b + 1] < qoIndptr[b]) throw new ArgumentException($"qo_indptr decreases at request {b}");
        if (numKvHeads <= 0 || numQoHeads <= 0 || numQoHeads % numKvHeads != 0) throw new ArgumentException($"{numQoHeads} query heads are not a multiple of {numKvHeads} KV heads");
        if (headDim <= 0) throw new ArgumentException($"head dim {headDim} must be positive");
        if (options.MaxKvChunk < 0 || options.TargetItems < 0 || options.MinKvChunk < 1 || options.QueryTileRows < 1) throw new ArgumentException($"invalid plan options {options}");

        _qoIndptr = qoIndptr; _table = table;
        _qoHeads = numQoHeads; _kvHeads = numKvHeads; _headDim = headDim; _group = numQoHeads / numKvHeads;
        int tileTokens = Math.Max(1, options.QueryTileRows / _group);
        _lists = _pool.Threads;
        bool balanced = options.Partition == AttentionPartition.LoadBalanced;

        // KV chunk length: FlashInfer's ceil(total effective kv / workers), counted in key-heads (one K and one V
        // row of one head) over a thread-independent item target, then divided among the heads an item carries.
        long totalKeyHeads = 0;
        for (int b = 0; b < batch; b++)
        {
            int qoLen = qoIndptr[b + 1] - qoIndptr[b];
            long tiles = (qoLen + tileTokens - 1) / tileTokens;
            totalKeyHeads += tiles * table.KvLength(b) * numKvHeads;
        }
        int target = options.TargetItems > 0 ? options.TargetItems : Math.Max(64, 4 * _pool.Threads);
        long keyHeadsPerItem = (totalKeyHeads + target - 1) / target;

        // Items and partial-state rows. A decode item carries several KV heads (up to QueryTileRows rows), so that
        // it reads whole pages in address order; a prefill tile already fills its rows with one head.
        _itemCount = 0; _mergeCount = 0;
        int partialRows = 0, maxRows = 1;
        // A small batch (one decode request) would make fewer items than threads: then each item takes one KV head.
        // Heads are computed independently, so this changes who computes a head, never its bits; the chunk length
        // below still uses the grouped count, keeping it independent of the thread count.
        long groupedItems = 0;
        for (int b = 0; b < batch; b++)
        {
            int qoLen = qoIndptr[b + 1] - qoIndptr[b];
            if (qoLen == 0) continue;
            int grouped = Math.Clamp(options.QueryTileRows / (Math.Min(tileTokens, qoLen) * _group), 1, numKvHeads);
            groupedItems += (long)((qoLen + tileTokens - 1) / tileTokens) * ((numKvHeads + grouped - 1) / grouped);
        }
        bool oneHeadPerItem = groupedItems < _pool.Threads;
        for (int b = 0; b < batch; b++)
        {
            int qoLen = qoIndptr[b + 1] - qoIndptr[b], kvLen = table.KvLength(b);
            if (qoLen == 0) continue;
            int groupedHeads = Math.Clamp(options.QueryTileRows / (Math.Min(tileTokens, qoLen) * _group), 1, numKvHeads);
            long chunk = !balanced ? int.MaxValue
                : options.MaxKvChunk > 0 ? options.MaxKvChunk
                : Math.Max(options.MinKvChunk, ((keyHeadsPerItem + groupedHeads - 1) / groupedHeads + 31) / 32 * 32);
            int headsPerItem = oneHeadPerItem && balanced ? 1 : groupedHeads;
            int chunks = kvLen == 0 ? 1 : (int)((kvLen + chunk - 1) / chunk);
            for (int t0 = 0; t0 < qoLen; t0 += tileTokens)
            {
                int tokens = Math.Min(tileTokens, qoLen - t0);
                for (int h0 = 0; h0 < numKvHeads; h0 += headsPerItem)
                {
                    int heads = Math.Min(headsPerItem, numKvHeads - h0), rows = heads * tokens * _group;
                    maxRows = Math.Max(maxRows, rows);
                    if (chunks > 1)
                    {
                        Grow(ref _merges, _mergeCount + 1);
                        _merges[_mergeCount++] = new MergeTask { TokenStart = qoIndptr[b] + t0, Tokens = tokens, KvHead = h0, KvHeads = heads, FirstPartialRow = partialRows, Chunks = chunks };
                    }
                    for (int c = 0; c < chunks; c++)
                    {
                        int start = (int)Math.Min(kvLen, c * chunk), end = (int)Math.Min(kvLen, (c + 1) * chunk);
                        Grow(ref _items, _itemCount + 1);
                        _items[_itemCount++] = new WorkItem
                        {
                            Geometry = new AttentionKernel.Item { Request = b, QoLength = qoLen, KvLength = kvLen, QueryIndex = t0, Tokens = tokens, KvHead = h0, KvHeads = heads, ChunkStart = start, ChunkEnd = end },
                            TokenStart = qoIndptr[b] + t0,
                            PartialRow = chunks > 1 ? partialRows : -1,
                            // FlashInfer's cost model (2 * q_tile + kv_len), with the rows' compute added to the KV read.
                            Cost = (int)Math.Min(int.MaxValue / 2, (long)(end - start) * (8 * heads + rows) + 2L * rows),
                        };
                        if (chunks > 1) partialRows += rows;
                    }
                }
            }
        }

        Schedule(balanced);

        // Workspaces.
        _maxRows = maxRows;
        if (_listTicks.Length < _lists) _listTicks = new long[_lists];
        if (_followRows.Length < 2L * AttentionSimd.BlockKeys * _lists) _followRows = GC.AllocateUninitializedArray<nint>(2 * AttentionSimd.BlockKeys * _lists, pinned: true);
        _scratchFloats = (AttentionKernel.ScratchFloats(_maxRows, headDim) + 15) / 16 * 16;
        GrowPinned(ref _scratch, _scratchFloats * _lists);
        GrowPinned(ref _partialO, (long)partialRows * headDim);
        GrowPinned(ref _partialLse, partialRows);
    }

    /// <summary>
    /// Attention of every planned query over its request's keys in <paramref name="kv"/>, masked and transformed by
    /// <paramref name="variant"/>. Allocates nothing once this variant type has run before.
    /// </summary>
    /// <param name="kv">one layer's K/V, with the KV heads and head dim given to Plan.</param>
    /// <param name="q">[nnz, Hq, D] queries (RoPE applied).</param>
    /// <param name="output">[nnz, Hq, D].</param>
    /// <param name="lse">[nnz, Hq] base-2 log-sum-exp of each row's logits (-inf for a row that sees no key), or null.</param>
    public void Run<TVariant>(PagedKvView kv, float* q, float* output, float* lse, in TVariant variant) where TVariant : struct, IAttentionVariant
    {
        if (_table == null) throw new InvalidOperationException("Plan() must be called before Run()");
        if (kv.KvHeads != _kvHeads || kv.HeadDim != _headDim || kv.PageSize != _table.PageSize)
            throw new ArgumentException($"the KV view (kv heads {kv.KvHeads}, head dim {kv.HeadDim}, page size {kv.PageSize}) differs from the plan (kv heads {_kvHeads}, head dim {_headDim}, page size {_table.PageSize})");
        if (q == null || output == null) throw new ArgumentNullException(nameof(q), "q and output must not be null");
        _kv = kv; _q = q; _o = output; _lse = lse;
        if (_runner is not Runner<TVariant> runner) _runner = runner = new Runner<TVariant>(this);
        runner.Variant = variant;
        try
        {
            _pool.For(_lists, runner);
            if (_mergeCount > 0) _pool.For(_mergeCount, _merger);
        }
        finally { _q = _o = _lse = null; _kv = default; } // the view holds its cache: let it go with the run
    }

    private sealed class Runner<TVariant>(BatchAttention owner) : IParallelWork where TVariant : struct, IAttentionVariant
    {
        public TVariant Variant;
        public void Execute(int list) => owner.RunList(list, in Variant);
    }

    private sealed class MergeWork(BatchAttention owner) : IParallelWork
    {
        public void Execute(int index) => owner.Merge(index);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunList<TVariant>(int list, in TVariant variant) where TVariant : struct, IAttentionVariant
    {
        var table = _table!;
        int d = _headDim, g = _group;
        long tokenStride = (long)_qoHeads * d;
        long started = Stopwatch.GetTimestamp();
        fixed (int* indices = table.Indices)
        fixed (float* scratchBase = _scratch)
        fixed (float* partialO = _partialO)
        fixed (float* partialLse = _partialLse)
        fixed (nint* followBase = _followRows)
        {
            float* scratch = scratchBase + list * _scratchFloats;
            nint* followKeys = followBase + list * 2 * AttentionSimd.BlockKeys, followValues = followKeys + AttentionSimd.BlockKeys;
            for (int i = _listIndptr[list]; i < _listIndptr[list + 1]; i++)
            {
                ref readonly var item = ref _items[_listItems[i]];
                // The next item's first K/V rows, requested while this item's last block computes: otherwise every item
                // starts on a cold block. The split plan of 8192 + 15 x 256 keys (47 items) ran 4.7-10% slower on one
                // thread than one item per request (16 items); with this, 3-7% (five alternating runs each: mean
                // 1.067 -> 1.049).
                int followCount = 0;
                if (i + 1 < _listIndptr[list + 1])
                {
                    ref readonly var next = ref _items[_listItems[i + 1]];
                    followCount = AttentionKernel.FirstRows(variant, _kv, indices + table.Indptr[next.Geometry.Request], next.Geometry, followKeys, followValues);
                }
                int* pages = indices + table.Indptr[item.Geometry.Request];
                long head0 = (long)item.Geometry.KvHead * g; // first query head of the item
                var io = new AttentionKernel.Io { Q = _q + item.TokenStart * tokenStride + head0 * d, QTokenStride = tokenStride };
                if (item.PartialRow < 0)
                {
                    io.O = _o + item.TokenStart * tokenStride + head0 * d; io.OTokenStride = tokenStride; io.OHeadStride = (long)g * d;
                    io.Lse = _lse == null ? null : _lse + (long)item.TokenStart * _qoHeads + head0; io.LseTokenStride = _qoHeads; io.LseHeadStride = g;
                }
                else
                {
                    // A partial state: the item's rows (head, token, g) packed, [rows, D] and [rows].
                    int rowsPerHead = item.Geometry.Tokens * g;
                    io.O = partialO + (long)item.PartialRow * d; io.OTokenStride = (long)g * d; io.OHeadStride = (long)rowsPerHead * d;
                    io.Lse = partialLse + item.PartialRow; io.LseTokenStride = g; io.LseHeadStride = rowsPerHead;
                }
                AttentionKernel.Run(variant, _kv, pages, item.Geometry, g, io, scratch, _maxRows, followKeys, followValues, followCount);
            }
        }
        _listTicks[list] = Stopwatch.GetTimestamp() - started;
    }

    // Merges the partial states of one split (tile, head) into the output, chunk 0 first: a fixed order, so fixed bits.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Merge(int index)
    {
        ref readonly var task = ref _merges[index];
        int d = _headDim, g = _group, rows = task.KvHeads * task.Tokens * g;
        fixed (float* partialO = _partialO)
        fixed (float* partialLse = _partialLse)
        {
            for (int h = 0; h < task.KvHeads; h++)
                for (int t = 0; t < task.Tokens; t++)
                    for (int q = 0; q < g; q++)
                    {
                        long outRow = (long)(task.TokenStart + t) * _qoHeads + (task.KvHead + h) * g + q;
                        int row = task.FirstPartialRow + (h * task.Tokens + t) * g + q;
                        float* o = _o + outRow * d;
                        new Span<float>(partialO + (long)row * d, d).CopyTo(new Span<float>(o, d));
                        float s = partialLse[row];
                        for (int c = 1; c < task.Chunks; c++)
                        {
                            int other = row + c * rows;
                            AttentionState.MergeRow(o, ref s, partialO + (long)other * d, partialLse[other], d);
                        }
                        if (_lse != null) _lse[outRow] = s;
                    }
        }
    }

    // Static schedule: an item list per thread, fixed by the plan, so a plan is replayable.
    private void Schedule(bool balanced)
    {
        int lists = _lists, n = _itemCount;
        Grow(ref _listItems, n);
        Grow(ref _owner, n);
        Grow(ref _order, n);
        Grow(ref _sortKeys, n);
        if (_listIndptr.Length != lists + 1) _listIndptr = new int[lists + 1];
        if (_loads.Length < lists) { _loads = new long[lists]; _heap = new int[lists]; _fill = new int[lists]; }
        if (balanced)
        {
            // Largest first (ties by item id: all keys differ, so the unstable sort is deterministic) ...
            for (int i = 0; i < n; i++) _sortKeys[i] = ((long)(int.MaxValue - _items[i].Cost) << 32) | (uint)i;
            Array.Sort(_sortKeys, 0, n);
            for (int k = 0; k < n; k++) _order[k] = (int)(_sortKeys[k] & 0xFFFFFFFF);
            // ... onto the least-loaded thread: a min-heap on (load, thread), the root updated in place.
            for (int w = 0; w < lists; w++) { _loads[w] = 0; _heap[w] = w; }
            for (int k = 0; k < n; k++)
            {
                int item = _order[k], w = _heap[0];
                _owner[item] = w;
                _loads[w] += _items[item].Cost;
                SiftDown(0, lists);
            }
        }
        else
        {
            for (int i = 0; i < n; i++) { _order[i] = i; _owner[i] = _items[i].Geometry.Request % lists; }
        }
        // Counting sort into lists, keeping the assignment order within each list.
        Array.Clear(_listIndptr);
        for (int i = 0; i < n; i++) _listIndptr[_owner[i] + 1]++;
        for (int w = 0; w < lists; w++) _listIndptr[w + 1] += _listIndptr[w];
        for (int w = 0; w < lists; w++) _fill[w] = _listIndptr[w];
        for (int k = 0; k < n; k++)
        {
            int item = _order[k];
            _listItems[_fill[_owner[item]]++] = item;
        }
    }

    private void SiftDown(int i, int count)
    {
        while (true)
        {
            int left = 2 * i + 1, right = left + 1, smallest = i;
            if (left < count && Less(_heap[left], _heap[smallest])) smallest = left;
            if (right < count && Less(_heap[right], _heap[smallest])) smallest = right;
            if (smallest == i) return;
            (_heap[i], _heap[smallest]) = (_heap[smallest], _heap[i]);
            i = smallest;
        }
    }

    private bool Less(int a, int b) => _loads[a] < _loads[b] || (_loads[a] == _loads[b] && a < b);

    private static void Grow<T>(ref T[] array, int needed)
    {
        if (array.Length < needed) Array.Resize(ref array, Math.Max(needed, 2 * array.Length));
    }

    private static void GrowPinned(ref float[] array, long needed)
    {
        if (array.Length < needed) array = GC.AllocateUninitializedArray<float>(checked((int)Math.Max(needed, array.Length * 3L / 2)), pinned: true);
    }
}
