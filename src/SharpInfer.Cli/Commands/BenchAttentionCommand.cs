using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Diagnostics;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Cli.Commands;

/// <summary>
/// `sharpinfer bench attention`: the batch attention kernels side by side in one process, medians of several runs
/// after a warm-up: (a) decode bandwidth against the machine's read bandwidth, measured in passes alternating with
/// the decode runs, (b) a skewed batch with the load-balanced plan vs one thread per request, (c) shared-prefix
/// cascade decode vs plain paged decode.
/// </summary>
public static unsafe class BenchAttentionCommand
{
    private const int QoHeads = 32, KvHeads = 8, HeadDim = 128, PageSize = 16;

    public sealed record DecodeResult(int Sequences, int KvLength, double Milliseconds, long BytesRead, double GBps, double MachineReadGBps, double PercentOfRead);
    /// <param name="Balance">the threads' mean busy time over the longest in the balanced runs (median): how evenly the plan splits the work.</param>
    /// <param name="Scaling">single-thread time / threads over the balanced time: the partition and the memory system together.</param>
    /// <param name="MemoryBoundSpeedup">the speedup both partitions would show at the machine's read bandwidth (one thread's
    /// alone, two threads' together, measured between the runs): what the memory system allows once the kernel is memory bound.</param>
    public sealed record SkewResult(int Threads, double BalancedMs, double OneThreadPerRequestMs, double Speedup, double SingleThreadMs, double IdealMs, double Balance, double Scaling,
        double ReadGBpsOneThread, double ReadGBpsAllThreads, double MemoryBoundSpeedup);
    /// <param name="MultiplyAdds">the FP32 multiply-adds of both (q.k and p.v for every query head and key): the cascade reads the
    /// prefix once instead of once per request, but computes as much as plain decode.</param>
    /// <param name="MachineGfma">the pool's FP32 multiply-add peak, measured in passes alternating with the runs.</param>
    /// <param name="SpeedupAtFmaPeak">plain time over the time of those multiply-adds at that peak: the most any kernel
    /// doing this arithmetic in FP32 can gain over this plain decode.</param>
    public sealed record CascadeResult(int Requests, int SharedPrefix, int OwnTokens, double CascadeMs, double PlainMs, double Speedup, double MaxRelativeDifference,
        long MultiplyAdds, double MachineGfma, double SpeedupAtFmaPeak);
    public sealed record Report(int Threads, int Runs, DecodeResult Decode, SkewResult Skewed, CascadeResult Cascade);

    public static Command Create()
    {
        var threads = new Option<int?>("--threads", "-t") { Description = "Worker threads (default: all cores)" };
        var runs = new Option<int>("--runs") { Description = "Timed runs per measurement; the median is reported (default 7)", DefaultValueFactory = _ => 7 };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var command = new Command("attention", "Benchmark batch attention: decode bandwidth, load balance on a skewed batch, cascade vs plain") { threads, runs, json };
        command.SetAction(parse =>
        {
            int threadCount = parse.GetValue(threads) ?? Environment.ProcessorCount;
            int runCount = parse.GetValue(runs);
            if (threadCount < 1) throw new CliInputException($"--threads must be at least 1, got {threadCount}");
            if (runCount < 1) throw new CliInputException($"--runs must be at least 1, got {runCount}");
            var report = Measure(threadCount, runCount);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            else Print(report, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) }));
            return CliRunner.Ok;
        });
        return command;
    }

    public static Report Measure(int threads, int runs)
    {
        using var pool = new WorkerPool(threads);
        var decode = MeasureDecode(pool, runs);
        var skewed = MeasureSkewed(runs);
        var cascade = MeasureCascade(pool, runs);
        return new Report(threads, runs, decode, skewed, cascade);
    }

    // (a) 8 sequences of 4096 tokens, one query each: memory bound, compared with the STREAM-like read figure.
    private static DecodeResult MeasureDecode(WorkerPool pool, int runs)
    {
        const int sequences = 8, kvLength = 4096;
        using var batch = new Batch(Enumerable.Repeat(kvLength, sequences).ToArray(), sharedPrefix: 0, seed: 1);
        var attention = new BatchAttention(pool);
        attention.Plan(batch.QoIndptr, batch.Table, QoHeads, KvHeads, HeadDim);
        // Decode runs alternate with passes of the read test, and both report their medians: the host's bandwidth
        // drifts by tens of percent from minute to minute, so the two must share their minutes.
        using var probe = new MemoryBandwidth.ReadProbe(pool);
        var reads = new List<double>();
        double ms = AlternatingMedianMs(runs, () => batch.Run(attention), () => reads.Add(probe.Pass()))[0];
        double read = Median([.. reads.Skip(2)]); // the first two passes were the warm-up
        long bytes = 2L * sequences * kvLength * KvHeads * HeadDim * sizeof(float) + 2L * sequences * QoHeads * HeadDim * sizeof(float);
        double gbps = bytes / (ms / 1e3) / 1e9;
        return new DecodeResult(sequences, kvLength, ms, bytes, gbps, read, 100 * gbps / read);
    }

    // (b) one 8192-token sequence and 15 of 256 on 2 threads: balanced (split-KV, min-heap) vs one thread per request.
    private static SkewResult MeasureSkewed(int runs)
    {
        const int threads = 2;
        int[] lengths = [8192, .. Enumerable.Repeat(256, 15)];
        using var batch = new Batch(lengths, sharedPrefix: 0, seed: 2);
        using var pool = new WorkerPool(threads);
        using var single = new WorkerPool(1);
        var balanced = new BatchAttention(pool);
        balanced.Plan(batch.QoIndptr, batch.Table, QoHeads, KvHeads, HeadDim);
        var naive = new BatchAttention(pool);
        naive.Plan(batch.QoIndptr, batch.Table, QoHeads, KvHeads, HeadDim, new AttentionPlanOptions { Partition = AttentionPartition.OneThreadPerRequest });
        var alone = new BatchAttention(single);
        alone.Plan(batch.QoIndptr, batch.Table, QoHeads, KvHeads, HeadDim, new AttentionPlanOptions { Partition = AttentionPartition.OneThreadPerRequest });
        var balances = new List<double>();
        using var probeAll = new MemoryBandwidth.ReadProbe(pool);
        using var probeOne = new MemoryBandwidth.ReadProbe(single);
        var readsAll = new List<double>();
        var readsOne = new List<double>();
        // All alternate run by run, so a slow minute of the shared host falls on all of them alike.
        var medians = AlternatingMedianMs(runs, () => { batch.Run(balanced); balances.Add(balanced.LastRunBalance); }, () => batch.Run(naive), () => batch.Run(alone),
            () => readsAll.Add(probeAll.Pass()), () => readsOne.Add(probeOne.Pass()));
        double balancedMs = medians[0], naiveMs = medians[1], singleMs = medians[2];
        double ideal = singleMs / threads;
        double readAll = Median([.. readsAll.Skip(2)]), readOne = Median([.. readsOne.Skip(2)]); // the first two passes were the warm-up
        // One thread per request puts request b on thread b mod 2: the threads stream together until the lighter list
        // ends, then the heavier one streams alone. Bytes are proportional to keys.
        long heavy = lengths.Where((_, b) => b % threads == 0).Sum(), light = lengths.Where((_, b) => b % threads == 1).Sum();
        double naiveKeySeconds = 2.0 * light / readAll + (double)(heavy - light) / readOne, balancedKeySeconds = (double)(heavy + light) / readAll;
        return new SkewResult(threads, balancedMs, naiveMs, naiveMs / balancedMs, singleMs, ideal, Median([.. balances]), ideal / balancedMs,
            readOne, readAll, naiveKeySeconds / balancedKeySeconds);
    }

    // (c) 32 requests sharing a 2048-token prefix plus 64 own tokens each, one query each.
    private static CascadeResult MeasureCascade(WorkerPool pool, int runs)
    {
        const int requests = 32, prefix = 2048, own = 64;
        using var batch = new Batch(Enumerable.Repeat(own, requests).ToArray(), sharedPrefix: prefix, seed: 3);
        var plain = new BatchAttention(pool);
        plain.Plan(batch.QoIndptr, batch.Table, QoHeads, KvHeads, HeadDim);
        var cascade = new CascadeAttention(pool);
        cascade.Plan(batch.QoIndptr, batch.PrefixTable!, batch.OwnTable!, QoHeads, KvHeads, HeadDim);
        batch.Run(plain);
        var expected = batch.Output.ToArray();
        var fma = new FmaThroughput(pool);
        var peaks = new List<double>();
        // cascade runs after plain: its output is what gets checked below
        var medians = AlternatingMedianMs(runs, () => peaks.Add(fma.Pass()), () => batch.Run(plain), () => batch.Run(cascade));
        double plainMs = medians[1], cascadeMs = medians[2];
        double maxRef = expected.Max(MathF.Abs), maxDiff = 0;
        for (int i = 0; i < expected.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - batch.Output[i]));
        long multiplyAdds = 2L * requests * QoHeads * (prefix + own) * HeadDim;
        double peak = Median([.. peaks.Skip(2)]); // the first two passes were the warm-up
        double atPeakMs = multiplyAdds / (peak * 1e9) * 1e3;
        return new CascadeResult(requests, prefix, own, cascadeMs, plainMs, plainMs / cascadeMs, maxDiff / maxRef, multiplyAdds, peak, plainMs / atPeakMs);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>Medians of several measurements taken in turn (a, b, c, a, b, c, ...) after two warm-up rounds.</summary>
    private static double[] AlternatingMedianMs(int runs, params Action[] actions)
    {
        for (int w = 0; w < 2; w++) foreach (var action in actions) action(); // warm-up: JIT tiers and page faults
        var times = actions.Select(_ => new double[runs]).ToArray();
        for (int i = 0; i < runs; i++)
            for (int a = 0; a < actions.Length; a++)
            {
                long start = Stopwatch.GetTimestamp();
                actions[a]();
                times[a][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        return times.Select(Median).ToArray();
    }

    private static void Print(Report r, IAnsiConsole console)
    {
        var inv = CultureInfo.InvariantCulture;
        string F(double x, string format = "F2") => x.ToString(format, inv);
        var table = new Table().Border(TableBorder.Rounded).Title($"batch attention, {r.Threads} threads, median of {r.Runs}")
            .AddColumn("benchmark").AddColumn("measure").AddColumn(new TableColumn("value").RightAligned()).AddColumn("target");
        var d = r.Decode;
        table.AddRow("(a) decode 8 x 4096, 32/8 heads, d 128, F32 KV", "time (ms)", F(d.Milliseconds, "F3"), "");
        table.AddRow("", "bytes read (K+V+q+o)", d.BytesRead.ToString("N0", inv), "");
        table.AddRow("", "GB/s", F(d.GBps, "F1"), "");
        table.AddRow("", "machine read GB/s (runs alternate)", F(d.MachineReadGBps, "F1"), "");
        table.AddRow("", "% of read bandwidth", F(d.PercentOfRead, "F0") + "%", ">= 70%");
        var s = r.Skewed;
        table.AddRow($"(b) skewed 8192 + 15 x 256, {s.Threads} threads", "load-balanced (ms)", F(s.BalancedMs, "F3"), "");
        table.AddRow("", "one thread per request (ms)", F(s.OneThreadPerRequestMs, "F3"), "");
        table.AddRow("", "speedup", F(s.Speedup) + "x", ">= 1.3x");
        table.AddRow("", "single thread (ms)", F(s.SingleThreadMs, "F3"), "");
        table.AddRow("", "balance (mean / longest thread busy time)", F(100 * s.Balance, "F0") + "%", ">= 90%");
        table.AddRow("", "scaling (single thread / 2 vs actual)", F(100 * s.Scaling, "F0") + "%", "");
        table.AddRow("", "machine read GB/s, 1 / 2 threads", $"{F(s.ReadGBpsOneThread, "F1")} / {F(s.ReadGBpsAllThreads, "F1")}", "");
        table.AddRow("", "speedup if both were memory bound", F(s.MemoryBoundSpeedup) + "x", "");
        var c = r.Cascade;
        table.AddRow($"(c) cascade {c.Requests} x ({c.SharedPrefix} shared + {c.OwnTokens} own)", "cascade (ms)", F(c.CascadeMs, "F3"), "");
        table.AddRow("", "plain paged (ms)", F(c.PlainMs, "F3"), "");
        table.AddRow("", "speedup", F(c.Speedup) + "x", ">= 4x");
        table.AddRow("", "max relative difference", c.MaxRelativeDifference.ToString("E2", inv), "<= 1e-5");
        table.AddRow("", "FP32 multiply-adds (both)", c.MultiplyAdds.ToString("N0", inv), "");
        table.AddRow("", "machine FMA peak GFMA/s (runs alternate)", F(c.MachineGfma, "F1"), "");
        table.AddRow("", "speedup if the cascade ran at that peak", F(c.SpeedupAtFmaPeak) + "x", "");
        console.Write(table);
    }

    /// <summary>
    /// A decode batch in an HND cache: request b has an optional shared prefix (the same pages for all) followed by
    /// its own tokens; one query per request.
    /// </summary>
    private sealed class Batch : IDisposable
    {
        public readonly PagedKvCache Cache;
        public readonly PageTable Table;                     // prefix pages + own pages per request
        public readonly PageTable? PrefixTable, OwnTable;    // the cascade's two levels (when there is a prefix)
        public readonly int[] QoIndptr;
        public readonly float[] Q, Output;                   // [B, Hq, D]
        public readonly float[] Lse;                         // [B, Hq]

        public Batch(int[] ownLengths, int sharedPrefix, int seed)
        {
            int batch = ownLengths.Length;
            int prefixPages = (sharedPrefix + PageSize - 1) / PageSize;
            int[] ownPages = ownLengths.Select(n => (n + PageSize - 1) / PageSize).ToArray();
            Cache = new PagedKvCache(1, prefixPages + ownPages.Sum(), PageSize, KvHeads, HeadDim);
            Fill(Cache, seed);
            var indptr = new int[batch + 1];
            var ownIndptr = new int[batch + 1];
            var indices = new List<int>();
            var ownIndices = new List<int>();
            var last = new int[batch];
            int next = prefixPages;
            for (int b = 0; b < batch; b++)
            {
                for (int p = 0; p < prefixPages; p++) indices.Add(p);
                for (int p = 0; p < ownPages[b]; p++) { indices.Add(next); ownIndices.Add(next); next++; }
                indptr[b + 1] = indices.Count;
                ownIndptr[b + 1] = ownIndices.Count;
                last[b] = ownLengths[b] - (ownPages[b] - 1) * PageSize;
            }
            Table = new PageTable(indptr, [.. indices], last, PageSize);
            if (sharedPrefix > 0)
            {
                PrefixTable = PageTable.ForSingle(Enumerable.Range(0, prefixPages).ToArray(), sharedPrefix, PageSize);
                OwnTable = new PageTable(ownIndptr, [.. ownIndices], last, PageSize);
            }
            QoIndptr = Enumerable.Range(0, batch + 1).ToArray();
            var rng = new Random(seed);
            Q = Enumerable.Range(0, batch * QoHeads * HeadDim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            Output = new float[Q.Length];
            Lse = new float[batch * QoHeads];
        }

        private static void Fill(PagedKvCache cache, int seed)
        {
            var view = cache.View(0);
            long floats = cache.Pages * cache.PageFloats;
            uint state = (uint)seed * 2654435761u + 1;
            for (long i = 0; i < floats; i++)
            {
                state ^= state << 13; state ^= state >> 17; state ^= state << 5; // xorshift32: fast, deterministic
                view.Keys[i] = (state & 0xFFFF) / 32768f - 1f;
                view.Values[i] = (state >> 16) / 32768f - 1f;
            }
        }

        public void Run(BatchAttention attention)
        {
            fixed (float* q = Q) fixed (float* o = Output) fixed (float* lse = Lse)
                attention.Run(Cache.View(0), q, o, lse, new CausalMask(1f / MathF.Sqrt(HeadDim)));
        }

        public void Run(CascadeAttention attention)
        {
            fixed (float* q = Q) fixed (float* o = Output) fixed (float* lse = Lse)
                attention.Run(Cache.View(0), q, o, lse, 1f / MathF.Sqrt(HeadDim));
        }

        public void Dispose() => Cache.Dispose();
    }
}
