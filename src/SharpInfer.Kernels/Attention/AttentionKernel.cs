using System.Runtime.CompilerServices;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// One work item of batch attention: the query rows of one (request, query tile, group of KV heads) against one KV
/// chunk, by FlashAttention's online softmax in base 2 (one pass over K/V in blocks of
/// <see cref="AttentionSimd.BlockKeys"/> keys). Rows are (KV head of the item, token, query head of its group),
/// row = (head * tokens + token) * group + g, so the g query heads sharing a KV head see each K/V row while it is in
/// L1, and the item's KV heads are visited block by block, head after head: in HND that walks each page's heads in
/// address order, which the hardware prefetcher follows far better than one head's 8 KiB slices 64 KiB apart.
/// Writes the normalised output and the base-2 LSE of its rows.
/// </summary>
internal static unsafe class AttentionKernel
{
    private const float Log2E = 1.44269504088896341f;
    private const int Bk = AttentionSimd.BlockKeys;

    /// <summary>Floats of scratch one thread needs for items of up to <paramref name="maxRows"/> rows.</summary>
    public static long ScratchFloats(int maxRows, int headDim) => 2L * maxRows * headDim + (long)maxRows * Bk + 2L * maxRows + 12L * Bk + 4L * maxRows + 16;

    /// <summary>The geometry of one item.</summary>
    public struct Item
    {
        public int Request, QoLength, KvLength;
        public int QueryIndex;   // index in the request of the tile's first token
        public int Tokens;       // tokens of the tile
        public int KvHead;       // first KV head of the item
        public int KvHeads;      // KV heads of the item
        public int ChunkStart, ChunkEnd; // keys [ChunkStart, ChunkEnd) of the request

        public readonly int Rows(int group) => KvHeads * Tokens * group;
    }

    /// <summary>Where an item reads its queries and writes its rows: element (head, token, g) of each buffer is at
    /// base + head * HeadStride + token * TokenStride + g * (row width).</summary>
    public struct Io
    {
        public float* Q; public long QTokenStride;                         // rows of [headDim]; head stride group * headDim
        public float* O; public long OTokenStride, OHeadStride;            // rows of [headDim]
        public float* Lse; public long LseTokenStride, LseHeadStride;      // null to skip
    }

    /// <param name="pages">the request's physical pages in order.</param>
    /// <param name="scratch">[<see cref="ScratchFloats"/>(maxRows, headDim)] owned by the calling thread for this item.</param>
    /// <param name="followKeys">null, or the K rows (first KV head) of the next item's first block, requested during
    /// this item's last head (see <see cref="FirstRows"/>); <paramref name="followValues"/> their V rows.</param>
    // Fully optimised from the first call: a step's first layers must not run tier-0 code.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TVariant>(in TVariant variant, in PagedKvView kv, int* pages, in Item item, int group, in Io io, float* scratch, int maxRows,
        nint* followKeys = null, nint* followValues = null, int followCount = 0)
        where TVariant : struct, IAttentionVariant
    {
        int d = kv.HeadDim, rowsPerHead = item.Tokens * group, rows = item.KvHeads * rowsPerHead;
        float* qs = scratch;                    // [rows, d] scaled queries
        float* acc = qs + maxRows * d;          // [rows, d] unnormalised outputs
        float* s = acc + maxRows * d;           // [rows, Bk] scores, then probabilities
        float* m = s + maxRows * Bk;            // [rows] running max (base 2)
        float* l = m + maxRows;                 // [rows] running sum
        nint* firstKeys = (nint*)(l + maxRows); // [Bk] K row of each key of the block, first head of the item
        nint* firstValues = firstKeys + Bk;     // [Bk]
        nint* blockKeys = firstValues + Bk;     // [Bk] the same for the head being processed
        nint* blockValues = blockKeys + Bk;     // [Bk]
        nint* nextKeys = blockValues + Bk;      // [Bk] K rows of the next block's first head (its prefetch)
        nint* nextValues = nextKeys + Bk;       // [Bk]
        int* rowStart = (int*)(nextValues + Bk); // [tokens] first visible key in the chunk
        int* rowEnd = rowStart + maxRows;       // [tokens]
        int* live = rowEnd + maxRows;           // [rows] 1 when the row has a visible key in the current block
        int* liveRow = live + maxRows;          // [rows] the live rows of the current head, in order
        float* pair = (float*)(liveRow + maxRows); // [16] scores of four rows and two (or, without 512-bit vectors, four) keys

        // Logits in base 2: SmScale*log2(e) folded into q unless the variant transforms the natural-log logit.
        float qScale = variant.HasLogitsTransform ? variant.SmScale : variant.SmScale * Log2E;
        for (int h = 0; h < item.KvHeads; h++)
            for (int t = 0; t < item.Tokens; t++)
                for (int g = 0; g < group; g++)
                    AttentionSimd.Scale(qs + ((h * item.Tokens + t) * group + g) * d, io.Q + t * io.QTokenStride + (h * group + g) * d, qScale, d);
        new Span<float>(acc, rows * d).Clear();
        for (int r = 0; r < rows; r++) { m[r] = float.NegativeInfinity; l[r] = 0; }

        VisibleSpan(variant, item, rowStart, rowEnd, out int lo, out int hi);

        nint headBytes = (nint)(kv.HeadStride * sizeof(float));
        int rowBytes = d * sizeof(float);
        for (int j0 = lo; j0 < hi; j0 += Bk)
        {
            int n = Math.Min(Bk, hi - j0);
            GatherRows(kv, pages, item.KvHead, j0, n, firstKeys, firstValues);
            for (int h = 0; h < item.KvHeads; h++)
            {
                for (int jj = 0; jj < n; jj++) { blockKeys[jj] = firstKeys[jj] + h * headBytes; blockValues[jj] = firstValues[jj] + h * headBytes; }
                // Software prefetch into L2, one head ahead: while this head computes, the next head's K rows (or, for
                // the last head, the next block's first head's) are requested one row per key inside the score loop,
                // and their V rows inside the first P.V pass. The hardware prefetcher alone restarts at every 4 KiB
                // page of the HND layout. Decode of 8 x 4096 keys: ~16 ms (median) without software prefetch, ~12.3
                // with the next head's rows requested in bursts before the scores and before P.V, ~10 ms spread
                // like this (a burst stalls once the miss queue is full; spread requests keep memory busy while the
                // FMAs run). Two heads ahead, or K and V together, measured slower.
                bool nextHead = h + 1 < item.KvHeads, nextBlock = !nextHead && j0 + Bk < hi;
                nint* aheadKeys = null, aheadValues = null;
                nint aheadOffset = 0;
                int aheadCount = 0;
                if (nextHead) { aheadKeys = blockKeys; aheadValues = blockValues; aheadOffset = headBytes; aheadCount = n; }
                else if (nextBlock)
                {
                    aheadCount = Math.Min(Bk, hi - j0 - Bk);
                    GatherRows(kv, pages, item.KvHead, j0 + Bk, aheadCount, nextKeys, nextValues);
                    aheadKeys = nextKeys; aheadValues = nextValues;
                }
                else if (followKeys != null && followCount > 0) { aheadKeys = followKeys; aheadValues = followValues; aheadCount = followCount; }
                int r0 = h * rowsPerHead, r1 = r0 + rowsPerHead;
                Scores(qs, s, r0, r1, blockKeys, n, d, pair, aheadKeys, aheadOffset, aheadCount);
                Softmax(variant, item, group, item.KvHead + h, r0, j0, n, s, m, l, acc, rowStart, rowEnd, live, d);

                // P.V, four live rows at a time so that each V load feeds four rows, the last one to three together
                // (GQA 3: one pass over V instead of a pair's and a single row's); the first group also requests the
                // rows ahead. Each row's operations are the same in every grouping.
                int liveRows = 0;
                for (int r = r0; r < r1; r++) if (live[r] != 0) liveRow[liveRows++] = r;
                int next = 0;
                for (; next + 4 <= liveRows; next += 4)
                {
                    int t0 = liveRow[next], t1 = liveRow[next + 1], t2 = liveRow[next + 2], t3 = liveRow[next + 3];
                    AttentionSimd.AccumulateWeightedRows4(acc + t0 * d, acc + t1 * d, acc + t2 * d, acc + t3 * d, s + t0 * Bk, s + t1 * Bk, s + t2 * Bk, s + t3 * Bk,
                        blockValues, n, d, aheadValues, aheadOffset, aheadCount);
                    aheadValues = null;
                }
                switch (liveRows - next)
                {
                    case 3:
                    {
                        int t0 = liveRow[next], t1 = liveRow[next + 1], t2 = liveRow[next + 2];
                        AttentionSimd.AccumulateWeightedRows3(acc + t0 * d, acc + t1 * d, acc + t2 * d, s + t0 * Bk, s + t1 * Bk, s + t2 * Bk, blockValues, n, d,
                            aheadValues, aheadOffset, aheadCount);
                        aheadValues = null;
                        break;
                    }
                    case 2:
                    {
                        int t0 = liveRow[next], t1 = liveRow[next + 1];
                        AttentionSimd.AccumulateWeightedRows2(acc + t0 * d, acc + t1 * d, s + t0 * Bk, s + t1 * Bk, blockValues, n, d, aheadValues, aheadOffset, aheadCount);
                        aheadValues = null;
                        break;
                    }
                    case 1:
                        AttentionSimd.AccumulateWeightedRows(acc + liveRow[next] * d, s + liveRow[next] * Bk, blockValues, n, d);
                        break;
                }
                if (aheadValues != null) PrefetchRows(aheadValues, aheadOffset, aheadCount, rowBytes); // no group of live rows ran
            }
        }

        // Normalise; a row that saw no key is the empty state (0, -inf).
        for (int h = 0; h < item.KvHeads; h++)
            for (int t = 0; t < item.Tokens; t++)
                for (int g = 0; g < group; g++)
                {
                    int r = (h * item.Tokens + t) * group + g;
                    float* dst = io.O + h * io.OHeadStride + t * io.OTokenStride + g * d;
                    float rowLse;
                    if (l[r] > 0)
                    {
                        AttentionSimd.Scale(dst, acc + r * d, 1f / l[r], d);
                        rowLse = m[r] + MathF.Log2(l[r]);
                    }
                    else
                    {
                        new Span<float>(dst, d).Clear();
                        rowLse = float.NegativeInfinity;
                    }
                    if (io.Lse != null) io.Lse[h * io.LseHeadStride + t * io.LseTokenStride + g] = rowLse;
                }
    }

    // s[r, jj] = qs[r] . k[jj] for rows [r0, r1): four rows against the whole block at a time, keys in quads (then a
    // pair and a single), so the block's K rows (<= 32 x D) stay in L1 while the rows pass and each K load feeds four
    // dot products. Every (row, key) takes the same operations in each of the kernels (see Dot4x4), so a score's bits
    // do not depend on the block's key count or on the row's neighbours.
    // aheadRows[0..aheadCount) + aheadOffset: K rows to request into L2 as the first four rows pass, one per key.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores(float* qs, float* s, int r0, int r1, nint* keys, int n, int d, float* pair, nint* aheadRows, nint aheadOffset, int aheadCount)
    {
        int rowBytes = d * sizeof(float);
        if (aheadRows == null) aheadCount = 0;
        for (int r4 = r0; r4 < r1; r4 += 4)
        {
            // The last one to three rows go through the same four-row kernels, the missing rows repeating the last
            // one: each row's products and reduction do not depend on its neighbours, so a row gets the same bits
            // whatever its place in the tile (batch invariance), and decode items get the vector kernels instead of
            // one dot product per key. Three rows (a KV head's query heads with GQA 3) take the three-row kernels,
            // the same operations per row without the repeated fourth.
            int rows = Math.Min(4, r1 - r4);
            float* a = qs + r4 * d, b = qs + Math.Min(r4 + 1, r1 - 1) * d, c = qs + Math.Min(r4 + 2, r1 - 1) * d, e = qs + (r4 + rows - 1) * d;
            float* sr = s + r4 * Bk;
            int k = 0;
            for (; k + 4 <= n; k += 4)
            {
                for (int i = k; i < k + 4 && i < aheadCount; i++) CachePrefetch.ToL2((byte*)(aheadRows[i] + aheadOffset), rowBytes);
                float* k0 = (float*)keys[k], k1 = (float*)keys[k + 1], k2 = (float*)keys[k + 2], k3 = (float*)keys[k + 3];
                // Rows past the tile's end repeat the last row and its output.
                float* s0 = sr + k, s1 = sr + Math.Min(1, rows - 1) * Bk + k, s2 = sr + Math.Min(2, rows - 1) * Bk + k, s3 = sr + (rows - 1) * Bk + k;
                if (rows == 3) AttentionSimd.Dot3x4(a, b, c, k0, k1, k2, k3, d, s0, s1, s2, pair);
                else AttentionSimd.Dot4x4(a, b, c, e, k0, k1, k2, k3, d, s0, s1, s2, s3, pair);
            }
            if (k + 2 <= n)
            {
                for (int i = k; i < k + 2 && i < aheadCount; i++) CachePrefetch.ToL2((byte*)(aheadRows[i] + aheadOffset), rowBytes);
                if (rows == 3) AttentionSimd.Dot3x2(a, b, c, (float*)keys[k], (float*)keys[k + 1], d, pair);
                else AttentionSimd.Dot4x2(a, b, c, e, (float*)keys[k], (float*)keys[k + 1], d, pair);
                for (int i = 0; i < rows; i++) { sr[i * Bk + k] = pair[i]; sr[i * Bk + k + 1] = pair[4 + i]; }
                k += 2;
            }
            if (k < n)
            {
                if (k < aheadCount) CachePrefetch.ToL2((byte*)(aheadRows[k] + aheadOffset), rowBytes);
                if (rows == 3) AttentionSimd.Dot3(a, b, c, (float*)keys[k], d, pair);
                else AttentionSimd.Dot4(a, b, c, e, (float*)keys[k], d, pair);
                for (int i = 0; i < rows; i++) sr[i * Bk + k] = pair[i];
            }
            for (k = n; k < aheadCount; k++) CachePrefetch.ToL2((byte*)(aheadRows[k] + aheadOffset), rowBytes);
            aheadCount = 0; // the first four rows requested them
        }
    }

    // Variant hooks and mask on the block's scores of one KV head's rows, then their online-softmax update:
    // scores become probabilities 2^(s - m), the running sums and outputs are rescaled to the new maxima.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Softmax<TVariant>(in TVariant variant, in Item item, int group, int kvHead, int r0, int j0, int n,
        float* s, float* m, float* l, float* acc, int* rowStart, int* rowEnd, int* live, int d)
        where TVariant : struct, IAttentionVariant
    {
        for (int t = 0; t < item.Tokens; t++)
        {
            int start = rowStart[t], end = rowEnd[t], queryIndex = item.QueryIndex + t;
            bool anyVisible = start < end && start < j0 + n && end > j0;
            bool wholeBlock = start <= j0 && end >= j0 + n;
            for (int g = 0; g < group; g++)
            {
                int r = r0 + t * group + g;
                float* sr = s + r * Bk;
                live[r] = 0;
                if (!anyVisible) continue;
                if (variant.HasLogitsTransform)
                {
                    int head = kvHead * group + g, position = item.KvLength - item.QoLength + queryIndex;
                    for (int jj = 0; jj < n; jj++) sr[jj] = variant.TransformLogit(sr[jj], head, position, j0 + jj) * Log2E;
                }
                for (int jj = n; jj < Bk; jj++) sr[jj] = float.NegativeInfinity;
                if (!wholeBlock)
                    for (int jj = 0; jj < n; jj++)
                        if (j0 + jj < start || j0 + jj >= end) sr[jj] = float.NegativeInfinity;
                if (variant.HasCustomMask)
                    for (int jj = 0; jj < n; jj++)
                        if (!variant.IsVisible(item.Request, queryIndex, j0 + jj, item.QoLength, item.KvLength)) sr[jj] = float.NegativeInfinity;

                float blockMax = AttentionSimd.BlockMax(sr);
                if (float.IsNegativeInfinity(blockMax)) continue;
                float mNew = MathF.Max(m[r], blockMax);
                float alpha = AttentionSimd.Exp2(m[r] - mNew); // 0 while the row was empty
                float sum = AttentionSimd.BlockExp2(sr, mNew);
                l[r] = l[r] * alpha + sum;
                if (alpha != 1f) AttentionSimd.Scale(acc + r * d, acc + r * d, alpha, d);
                m[r] = mNew;
                live[r] = 1;
            }
        }
    }

    /// <summary>Requests into L2 the rows <paramref name="offset"/> bytes after each of <paramref name="rows"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRows(nint* rows, nint offset, int n, int rowBytes)
    {
        for (int jj = 0; jj < n; jj++)
        {
            CachePrefetch.ToL2((byte*)(rows[jj] + offset), rowBytes);
        }
    }

    /// <summary>
    /// The K and V rows (first KV head) of an item's first block of visible keys, for the item before it to request
    /// ahead; returns their count (0 when the item sees no key).
    /// </summary>
    public static int FirstRows<TVariant>(in TVariant variant, in PagedKvView kv, int* pages, in Item item, nint* keyRows, nint* valueRows)
        where TVariant : struct, IAttentionVariant
    {
        VisibleSpan(variant, item, null, null, out int lo, out int hi);
        if (lo >= hi) return 0;
        int n = Math.Min(Bk, hi - lo);
        GatherRows(kv, pages, item.KvHead, lo, n, keyRows, valueRows);
        return n;
    }

    // Keys [lo, hi) that some token of the item sees within its chunk (lo >= hi: none); each token's own range into
    // rowStart/rowEnd[t] when they are given.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void VisibleSpan<TVariant>(in TVariant variant, in Item item, int* rowStart, int* rowEnd, out int lo, out int hi)
        where TVariant : struct, IAttentionVariant
    {
        lo = int.MaxValue; hi = int.MinValue;
        for (int t = 0; t < item.Tokens; t++)
        {
            variant.VisibleKeys(item.QueryIndex + t, item.QoLength, item.KvLength, out int start, out int end);
            start = Math.Max(start, item.ChunkStart);
            end = Math.Min(end, item.ChunkEnd);
            if (rowStart != null) { rowStart[t] = start; rowEnd[t] = end; }
            if (start < end) { lo = Math.Min(lo, start); hi = Math.Max(hi, end); }
        }
    }

    // Pointers to the K and V rows of keys [j0, j0 + n) of the request for one KV head, one division per block.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GatherRows(in PagedKvView kv, int* pages, int kvHead, int j0, int n, nint* keyRows, nint* valueRows)
    {
        int pageSize = kv.PageSize;
        int pageSlot = j0 / pageSize, entry = j0 - pageSlot * pageSize;
        for (int jj = 0; jj < n; jj++)
        {
            keyRows[jj] = (nint)kv.KeyRow(pages[pageSlot], entry, kvHead);
            valueRows[jj] = (nint)kv.ValueRow(pages[pageSlot], entry, kvHead);
            if (++entry == pageSize) { entry = 0; pageSlot++; }
        }
    }
}
