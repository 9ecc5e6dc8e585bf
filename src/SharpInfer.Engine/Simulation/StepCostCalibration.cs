using System.Diagnostics;
using SharpInfer.Kernels.Attention;
using SharpInfer.Models.Llama;

namespace SharpInfer.Engine.Simulation;

/// <summary>One timed engine step: what it computed and how long it took.</summary>
public sealed record StepTiming(int PrefillTokens, int DecodeTokens, long ContextTokens, double Seconds);

/// <summary>One step shape to time: a prompt chunk over some earlier context, plus a batch of decodes.</summary>
public sealed record StepShape(int PrefillTokens, int PriorContext, int DecodeRequests, int DecodeContext)
{
    /// <summary>KV tokens the step attends to, counted as the simulator counts them (length after the step).</summary>
    public long ContextTokens => (PrefillTokens > 0 ? (long)PriorContext + PrefillTokens : 0) + (long)DecodeRequests * DecodeContext;
}

public sealed partial class StepCostModel
{
    /// <summary>
    /// Least-squares fit of a, b, c, d to measured steps, constrained to non-negative values (every subset of free
    /// coefficients is solved and the feasible one with the smallest residual kept: 16 small solves).
    /// </summary>
    public static StepCostModel Fit(IReadOnlyList<StepTiming> timings)
    {
        if (timings.Count < 4) throw new ArgumentException("fitting four coefficients needs at least four timed steps", nameof(timings));
        var rows = timings.Select(t => new[] { 1.0, t.PrefillTokens, t.DecodeTokens, (double)t.ContextTokens }).ToArray();
        var y = timings.Select(t => t.Seconds).ToArray();
        // Columns differ by orders of magnitude (1 vs thousands of context tokens): scale each to unit norm first.
        var scale = new double[4];
        for (int j = 0; j < 4; j++) scale[j] = Math.Sqrt(rows.Sum(r => r[j] * r[j]));
        double[]? best = null;
        double bestResidual = double.PositiveInfinity;
        for (int mask = 1; mask < 16; mask++)
        {
            var free = Enumerable.Range(0, 4).Where(j => (mask >> j & 1) == 1 && scale[j] > 0).ToArray();
            if (free.Length == 0) continue;
            var solution = SolveLeastSquares(rows, y, free, scale);
            if (solution == null || solution.Any(v => v < 0)) continue;
            var full = new double[4];
            for (int k = 0; k < free.Length; k++) full[free[k]] = solution[k] / scale[free[k]];
            double residual = 0;
            for (int i = 0; i < rows.Length; i++)
            {
                double e = y[i] - (full[0] + full[1] * rows[i][1] + full[2] * rows[i][2] + full[3] * rows[i][3]);
                residual += e * e;
            }
            if (residual < bestResidual) { bestResidual = residual; best = full; }
        }
        best ??= [y.Average(), 0, 0, 0];
        return new StepCostModel(best[0], best[1], best[2], best[3]);
    }

    /// <summary>Normal equations on the chosen (scaled) columns, solved by Gaussian elimination; null if singular.</summary>
    private static double[]? SolveLeastSquares(double[][] rows, double[] y, int[] free, double[] scale)
    {
        int n = free.Length;
        var a = new double[n, n + 1];
        foreach (var (row, target) in rows.Zip(y))
        {
            for (int p = 0; p < n; p++)
            {
                double xp = row[free[p]] / scale[free[p]];
                for (int q = 0; q < n; q++) a[p, q] += xp * row[free[q]] / scale[free[q]];
                a[p, n] += xp * target;
            }
        }
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++) if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col])) pivot = r;
            if (Math.Abs(a[pivot, col]) < 1e-12) return null;
            for (int c = 0; c <= n; c++) (a[col, c], a[pivot, c]) = (a[pivot, c], a[col, c]);
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = a[r, col] / a[col, col];
                for (int c = col; c <= n; c++) a[r, c] -= f * a[col, c];
            }
        }
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = a[i, n] / a[i, i];
        return x;
    }

    /// <summary>
    /// A grid of step shapes that separates the four costs: prompt chunks of several sizes over short and long earlier
    /// context, decode batches of several sizes at short and long context, and mixed steps. Sizes stay within the
    /// model's tokens per forward and the context length.
    /// </summary>
    public static IReadOnlyList<StepShape> CalibrationGrid(int maxTokensPerForward, int contextLength)
    {
        int maxChunk = Math.Min(maxTokensPerForward, contextLength / 2);
        int longContext = Math.Max(32, Math.Min(512, contextLength / 2)); // long enough to see d, small enough to calibrate in seconds
        var chunks = new[] { 16, maxChunk / 2, maxChunk }.Where(c => c >= 2).Distinct().ToArray();
        var batches = new[] { 1, 4, 16 }.Where(b => b < maxTokensPerForward).ToArray();
        var shapes = new List<StepShape>();
        foreach (int chunk in chunks)
        {
            shapes.Add(new StepShape(chunk, 0, 0, 0));
            shapes.Add(new StepShape(chunk, longContext - chunk, 0, 0));
        }
        foreach (int b in batches)
        {
            shapes.Add(new StepShape(0, 0, b, 32));
            shapes.Add(new StepShape(0, 0, b, longContext));
        }
        int mixedChunk = Math.Max(2, Math.Min(maxChunk / 2, maxTokensPerForward - 8));
        shapes.Add(new StepShape(mixedChunk, 0, Math.Min(8, maxTokensPerForward - mixedChunk), longContext));
        return shapes;
    }

    /// <summary>Times <see cref="LlamaModel.Forward"/> on each shape (median of <paramref name="repeats"/> after one warm-up).</summary>
    public static IReadOnlyList<StepTiming> Measure(LlamaModel model, IReadOnlyList<StepShape> shapes, int repeats = 3)
    {
        const int pageSize = 16;
        static int PagesFor(int tokens) => Math.Max(1, (tokens + pageSize - 1) / pageSize);
        int pagesNeeded = shapes.Max(s => (s.PrefillTokens > 0 ? PagesFor(s.PriorContext + s.PrefillTokens) : 0) + s.DecodeRequests * PagesFor(s.DecodeContext));
        using var cache = model.CreateKvCache(pagesNeeded, pageSize);
        int vocab = model.Config.VocabSize;
        var random = new Random(7);
        var timings = new List<StepTiming>();
        foreach (var shape in shapes)
        {
            var lengths = new List<(int NewTokens, int KvLength)>();
            if (shape.PrefillTokens > 0) lengths.Add((shape.PrefillTokens, shape.PriorContext + shape.PrefillTokens));
            for (int b = 0; b < shape.DecodeRequests; b++) lengths.Add((1, shape.DecodeContext));
            var qoIndptr = new int[lengths.Count + 1];
            var indptr = new int[lengths.Count + 1];
            var last = new int[lengths.Count];
            for (int i = 0; i < lengths.Count; i++)
            {
                qoIndptr[i + 1] = qoIndptr[i] + lengths[i].NewTokens;
                int pages = PagesFor(lengths[i].KvLength);
                indptr[i + 1] = indptr[i] + pages;
                last[i] = lengths[i].KvLength - (pages - 1) * pageSize;
            }
            // The KV content does not matter for timing: each request gets its own page range.
            var table = new PageTable(indptr, Enumerable.Range(0, indptr[^1]).ToArray(), last, pageSize);
            var tokens = Enumerable.Range(0, qoIndptr[^1]).Select(_ => random.Next(vocab)).ToArray();
            var logits = new float[lengths.Count * vocab];
            var seconds = new List<double>();
            for (int run = 0; run <= repeats; run++)
            {
                long start = Stopwatch.GetTimestamp();
                model.Forward(tokens, qoIndptr, table, cache, logits);
                if (run > 0) seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            seconds.Sort();
            timings.Add(new StepTiming(shape.PrefillTokens, shape.DecodeRequests, shape.ContextTokens, seconds[seconds.Count / 2]));
        }
        return timings;
    }

    /// <summary>Measures the model on <see cref="CalibrationGrid"/> and fits the cost model to it.</summary>
    public static StepCostModel Calibrate(LlamaModel model, out IReadOnlyList<StepTiming> timings, int repeats = 3)
    {
        timings = Measure(model, CalibrationGrid(model.MaxTokensPerForward, model.Config.ContextLength), repeats);
        return Fit(timings);
    }

    public override string ToString() =>
        FormattableString.Invariant($"a={FixedSeconds * 1e3:F3} ms + b={SecondsPerPrefillToken * 1e6:F2} us/prefill token + c={SecondsPerDecodeToken * 1e6:F2} us/decode + d={SecondsPerContextToken * 1e9:F3} ns/context token");
}
