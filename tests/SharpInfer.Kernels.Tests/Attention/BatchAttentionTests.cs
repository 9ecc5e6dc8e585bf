using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Attention;

public unsafe class BatchAttentionTests
{
    // Decode (one query each) and prefill/append (several, some as long as the KV) in one batch, odd lengths.
    private static readonly int[] DecodeQo = [1, 1, 1, 1], PrefillQo = [1, 5, 3, 16];
    private static readonly int[] KvLens = [1, 37, 100, 16];

    public static TheoryData<int, int, KvLayout, bool> Shapes()
    {
        var data = new TheoryData<int, int, KvLayout, bool>();
        foreach (int pageSize in new[] { 1, 16, 64 })
            foreach (int d in new[] { 64, 128, 256 })
                foreach (var layout in new[] { KvLayout.Hnd, KvLayout.Nhd })
                    data.Add(pageSize, d, layout, (pageSize + d) % 3 == 0);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DecodeAndPrefillMatchTheReferenceForEveryPageSizeHeadDimAndLayout(int pageSize, int d, KvLayout layout, bool decode)
    {
        using var f = new AttentionFixture(pageSize * 7 + d, decode ? DecodeQo : PrefillQo, KvLens, hq: 4, hkv: 2, d, pageSize, layout);
        float scale = 1f / MathF.Sqrt(d);
        var (o, lse) = f.Run(new CausalMask(scale));
        f.AssertMatchesReference(o, lse, AttentionFixture.CausalReference(scale));
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)] [InlineData(6)] [InlineData(7)] [InlineData(8)]
    public void EveryGqaGroupSizeMatchesTheReference(int group)
    {
        using var f = new AttentionFixture(group, PrefillQo, KvLens, hq: 2 * group, hkv: 2, d: 64, pageSize: 16, group % 2 == 0 ? KvLayout.Hnd : KvLayout.Nhd);
        var (o, lse) = f.Run(new CausalMask(0.125f));
        f.AssertMatchesReference(o, lse, AttentionFixture.CausalReference(0.125));
    }

    [Theory]
    [InlineData(3, 128, 8, 77)] [InlineData(4, 128, 8, 77)] [InlineData(5, 128, 8, 77)] [InlineData(4, 20, 8, 77)] [InlineData(3, 8, 8, 77)]
    // A prompt as long as its KV: in the last block the early tokens' rows see no key, so the live rows that share
    // a P.V pass are not the ones that share it in earlier blocks.
    [InlineData(3, 128, 40, 40)] [InlineData(4, 64, 40, 40)] [InlineData(5, 128, 37, 37)]
    public void APromptsLastRowEqualsTheSameQueryDecodedAloneBitForBit(int group, int d, int tokens, int kvLen)
    {
        // Batch invariance: the prompt's rows share four-row score and P.V kernels with their neighbours (and, with
        // GQA 3 or 5, with the next token's rows), the decode row only with its own KV head's; every row must still
        // take the same operations, or a prompt continued by decode would drift from the same text decoded token by token.
        // tokens 8: with GQA 3 the last token's rows fill the end of a quad
        using var f = new AttentionFixture(group * 31 + d, [tokens], [kvLen], hq: 2 * group, hkv: 2, d, pageSize: 16);
        var (o, lse) = f.Run(new CausalMask(0.125f));
        using var pool = new WorkerPool(2);
        var decode = new BatchAttention(pool);
        decode.Plan([0, 1], f.Table, f.Hq, f.Hkv, f.D);
        var last = new float[f.Hq * d];
        var lastLse = new float[f.Hq];
        fixed (float* qp = f.Q) fixed (float* op = last) fixed (float* lp = lastLse)
            decode.Run(f.Cache.View(0), qp + (tokens - 1) * f.Hq * d, op, lp, new CausalMask(0.125f));
        Assert.Equal(o.AsSpan((tokens - 1) * f.Hq * d).ToArray(), last);
        Assert.Equal(lse.AsSpan((tokens - 1) * f.Hq).ToArray(), lastLse);
    }

    [Fact]
    public void ArraysLongerThanTheBatchGiveTheSameResultWithAnExplicitBatchSize()
    {
        // An engine reuses arrays sized for its largest batch: the entries past B hold garbage and must not be read.
        using var f = new AttentionFixture(21, PrefillQo, KvLens, hq: 4, hkv: 2, d: 64, pageSize: 16);
        var (o, lse) = f.Run(new CausalMask(0.125f));
        int batch = KvLens.Length;
        int[] Padded(int[] a) => [.. a, 999, -5, 7];
        var table = new PageTable(Padded(f.Table.Indptr), Padded(f.Table.Indices), Padded(f.Table.LastPageLength), f.PageSize, batch);
        Assert.Equal(batch, table.BatchSize);
        using var pool = new WorkerPool(2);
        var attention = new BatchAttention(pool);
        attention.Plan(Padded(f.QoIndptr), table, f.Hq, f.Hkv, f.D);
        var o2 = new float[o.Length];
        var lse2 = new float[lse.Length];
        fixed (float* qp = f.Q) fixed (float* op = o2) fixed (float* lp = lse2) attention.Run(f.Cache.View(0), qp, op, lp, new CausalMask(0.125f));
        Assert.Equal(o, o2);
        Assert.Equal(lse, lse2);
        // Without the explicit batch size the lengths must agree, as before.
        Assert.Throws<ArgumentException>(() => new PageTable(Padded(f.Table.Indptr), f.Table.Indices, f.Table.LastPageLength, f.PageSize));
        Assert.Throws<ArgumentException>(() => new PageTable(f.Table.Indptr, f.Table.Indices, f.Table.LastPageLength, f.PageSize, batch + 1));
    }

    [Fact]
    public void LargeLogitsStayAccurate()
    {
        // Peaked softmax: logits up to ~60, where a missing max subtraction or a poor exp2 shows.
        using var f = new AttentionFixture(5, PrefillQo, KvLens, hq: 8, hkv: 2, d: 64, pageSize: 16, spread: 3f);
        var (o, lse) = f.Run(new CausalMask(0.125f));
        f.AssertMatchesReference(o, lse, AttentionFixture.CausalReference(0.125));
    }

    [Fact]
    public void RowsThatSeeNoKeyGiveZeroAndMinusInfinity()
    {
        // Request 0: 5 queries over 3 keys, so its first two queries precede every key; request 1 has no keys at all.
        using var f = new AttentionFixture(11, [5, 1, 2], [3, 0, 40], hq: 4, hkv: 1, d: 64, pageSize: 16);
        var (o, lse) = f.Run(new CausalMask(0.125f), options: new AttentionPlanOptions { MaxKvChunk = 8 });
        for (int token = 0; token < 3; token++) // request 0 queries 0, 1 and request 1's query (token 5) are empty
        {
            int t = token < 2 ? token : 5;
            for (int h = 0; h < 4; h++)
            {
                Assert.True(float.IsNegativeInfinity(lse[t * 4 + h]), $"token {t} head {h}: lse {lse[t * 4 + h]}");
                Assert.All(o.AsSpan((t * 4 + h) * 64, 64).ToArray(), x => Assert.Equal(0f, x));
            }
        }
        f.AssertMatchesReference(o, lse, AttentionFixture.CausalReference(0.125));
    }

    [Fact]
    public void SplitKvEqualsUnsplitAndIsBitIdenticalRunToRunAndAcrossThreadCounts()
    {
        using var f = new AttentionFixture(21, [1, 4, 1, 9], [300, 77, 1000, 64], hq: 8, hkv: 2, d: 64, pageSize: 16);
        var unsplit = f.Run(new CausalMask(0.125f), options: new AttentionPlanOptions { Partition = AttentionPartition.OneThreadPerRequest });
        foreach (int chunk in new[] { 7, 32, 100 })
        {
            var options = new AttentionPlanOptions { MaxKvChunk = chunk };
            var split = f.Run(new CausalMask(0.125f), threads: 3, options: options);
            for (int i = 0; i < split.O.Length; i++) Assert.True(Math.Abs(split.O[i] - unsplit.O[i]) <= 2e-6, $"chunk {chunk}: output {i} {split.O[i]} vs {unsplit.O[i]}");
            for (int i = 0; i < split.Lse.Length; i++) Assert.True(Math.Abs(split.Lse[i] - unsplit.Lse[i]) <= 2e-5, $"chunk {chunk}: lse {i}");
            var again = f.Run(new CausalMask(0.125f), threads: 3, options: options);
            Assert.Equal(split.O, again.O);
            Assert.Equal(split.Lse, again.Lse);
            var oneThread = f.Run(new CausalMask(0.125f), threads: 1, options: options);
            Assert.Equal(split.O, oneThread.O);
        }
        f.AssertMatchesReference(unsplit.O, unsplit.Lse, AttentionFixture.CausalReference(0.125));
        // The default plan splits nothing this small, so ask for the automatic chunking with a tiny minimum too.
        var auto = f.Run(new CausalMask(0.125f), threads: 2, options: new AttentionPlanOptions { MinKvChunk = 32 });
        Assert.Equal(auto.O, f.Run(new CausalMask(0.125f), threads: 4, options: new AttentionPlanOptions { MinKvChunk = 32 }).O);
        f.AssertMatchesReference(auto.O, auto.Lse, AttentionFixture.CausalReference(0.125));
    }

    [Fact]
    public void LoadBalancedPlanSplitsTheLongRequestAndEvensTheThreads()
    {
        int[] kv = [8192, .. Enumerable.Repeat(256, 15)];
        var table = TableOf(kv, 16);
        int[] qo = Enumerable.Range(0, kv.Length + 1).ToArray();
        using var pool = new WorkerPool(2);
        var balanced = new BatchAttention(pool);
        balanced.Plan(qo, table, 32, 8, 128);
        // A decode item carries all 8 KV heads; only the 8192-token request is split, into equal chunks of keys.
        Assert.Equal(1, balanced.SplitCount);
        Assert.True(balanced.WorkItemCount > 16 + 1, $"the long request should be split, got {balanced.WorkItemCount} items");
        Assert.InRange(Math.Abs(balanced.ItemsOfThread(0) - balanced.ItemsOfThread(1)), 0, 1);
        var naive = new BatchAttention(pool);
        naive.Plan(qo, table, 32, 8, 128, new AttentionPlanOptions { Partition = AttentionPartition.OneThreadPerRequest });
        Assert.Equal(0, naive.SplitCount);
        Assert.Equal(8, naive.ItemsOfThread(0)); // requests 0, 2, ..., 14
        Assert.Equal(8, naive.ItemsOfThread(1));
    }

    [Fact]
    public void RunAllocatesNothingOnAWarmPlan()
    {
        using var f = new AttentionFixture(3, PrefillQo, [40, 300, 100, 16], hq: 4, hkv: 2, d: 64, pageSize: 16);
        using var pool = new WorkerPool(1);
        var attention = new BatchAttention(pool);
        attention.Plan(f.QoIndptr, f.Table, 4, 2, 64, new AttentionPlanOptions { MaxKvChunk = 64 });
        Assert.True(attention.SplitCount > 0);
        var o = new float[f.Q.Length];
        var lse = new float[f.Tokens * 4];
        fixed (float* qp = f.Q) fixed (float* op = o) fixed (float* lp = lse)
        {
            var view = f.Cache.View(0);
            attention.Run(view, qp, op, lp, new CausalMask(0.125f));
            long before = GC.GetAllocatedBytesForCurrentThread();
            attention.Run(view, qp, op, lp, new CausalMask(0.125f));
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(1.0, attention.LastRunBalance); // one thread: its busy time is the longest and the mean
        }
    }

    [Fact]
    public void RaggedKvEqualsPagedKv()
    {
        using var f = new AttentionFixture(8, PrefillQo, KvLens, hq: 8, hkv: 2, d: 64, pageSize: 16, KvLayout.Nhd);
        int[] kvIndptr = new int[KvLens.Length + 1];
        for (int b = 0; b < KvLens.Length; b++) kvIndptr[b + 1] = kvIndptr[b] + KvLens[b];
        float[] k = [.. f.Kv.SelectMany(x => x.K)], v = [.. f.Kv.SelectMany(x => x.V)]; // [nnz_kv, Hkv, D]
        using var pool = new WorkerPool(2);
        var attention = new BatchAttention(pool);
        var table = RaggedKv.Table(kvIndptr);
        attention.Plan(f.QoIndptr, table, 8, 2, 64);
        var o = new float[f.Q.Length];
        var lse = new float[f.Tokens * 8];
        fixed (float* kp = k) fixed (float* vp = v) fixed (float* qp = f.Q) fixed (float* op = o) fixed (float* lp = lse)
            attention.Run(PagedKvView.Ragged(kp, vp, 2, 64), qp, op, lp, new CausalMask(0.125f));
        f.AssertMatchesReference(o, lse, AttentionFixture.CausalReference(0.125));
    }

    [Fact]
    public void PlanRejectsMismatchedShapes()
    {
        using var pool = new WorkerPool(1);
        var attention = new BatchAttention(pool);
        var table = TableOf([10], 16);
        Assert.Throws<ArgumentException>(() => attention.Plan([0, 1, 2], table, 4, 2, 64));
        Assert.Throws<ArgumentException>(() => attention.Plan([0, 1], table, 6, 4, 64));
        Assert.Throws<ArgumentException>(() => attention.Plan([0, 1], table, 4, 2, 0));
        attention.Plan([0, 1], table, 4, 2, 40); // any positive head dim: vector body, scalar tail
    }

    internal static PageTable TableOf(int[] kvLens, int pageSize)
    {
        var indptr = new int[kvLens.Length + 1];
        var last = new int[kvLens.Length];
        for (int b = 0; b < kvLens.Length; b++)
        {
            int pages = (kvLens[b] + pageSize - 1) / pageSize;
            indptr[b + 1] = indptr[b] + pages;
            last[b] = pages == 0 ? 0 : kvLens[b] - (pages - 1) * pageSize;
        }
        return new PageTable(indptr, Enumerable.Range(0, indptr[^1]).ToArray(), last, pageSize);
    }
}
