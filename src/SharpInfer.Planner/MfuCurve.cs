namespace SharpInfer.Planner;

/// <summary>
/// Model FLOPs utilisation (fraction of peak actually achieved by the executed FLOPs) as a function of the micro-batch size.
/// Either a measured table (interpolated linearly in log2 of the micro-batch, held flat beyond its ends) or a
/// saturating default max * tokens / (tokens + halfTokens), where tokens = micro-batch * sequence length:
/// GEMMs grow more efficient with more rows until the tensor cores are saturated.
/// Tensor-parallel communication inside a node is folded into these figures.
/// </summary>
public sealed class MfuCurve
{
    private readonly SortedDictionary<int, double>? table;
    private readonly double maxUtilization;
    private readonly double halfSaturationTokens;

    private MfuCurve(SortedDictionary<int, double>? table, double maxUtilization, double halfSaturationTokens)
    {
        this.table = table;
        this.maxUtilization = maxUtilization;
        this.halfSaturationTokens = halfSaturationTokens;
    }

    /// <summary>A100 default: 55% ceiling, two thirds of it at 1024 tokens (b=1, s=2048 gives 37%, b=8 gives 52%).</summary>
    public static MfuCurve DefaultA100 { get; } = Saturating(0.55, 1024);

    /// <summary>H100/H200 default: faster tensor cores need bigger GEMMs to saturate, and reach a lower fraction of peak.</summary>
    public static MfuCurve DefaultHopper { get; } = Saturating(0.50, 2048);

    public static MfuCurve Saturating(double maxUtilization, double halfSaturationTokens) => new(null, maxUtilization, halfSaturationTokens);

    /// <summary>A measured table: micro-batch size → MFU in (0, 1].</summary>
    public static MfuCurve FromTable(IReadOnlyDictionary<int, double> points)
    {
        if (points.Count == 0) throw new PlannerInputException("MFU table is empty");
        foreach (var (b, mfu) in points)
            if (b <= 0 || mfu <= 0 || mfu > 1)
                throw new PlannerInputException($"MFU table entry {b}:{mfu} is out of range (micro-batch > 0, 0 < MFU <= 1)");
        return new(new SortedDictionary<int, double>(points.ToDictionary()), 0, 0);
    }

    /// <summary>Parses "1:0.42,2:0.46,4:0.48".</summary>
    public static MfuCurve Parse(string text)
    {
        var points = new Dictionary<int, double>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] kv = part.Split(':');
            if (kv.Length != 2 || !int.TryParse(kv[0], out int b)
                || !double.TryParse(kv[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double mfu))
                throw new PlannerInputException($"bad MFU table entry '{part}' (expected microbatch:mfu, e.g. 1:0.42,2:0.46)");
            points[b] = mfu;
        }
        return FromTable(points);
    }

    public bool IsTable => table != null;

    /// <summary>MFU at micro-batch <paramref name="microBatch"/> with sequences of <paramref name="sequenceLength"/> tokens.</summary>
    public double At(int microBatch, int sequenceLength)
    {
        if (table == null)
        {
            double tokens = (double)microBatch * sequenceLength;
            return maxUtilization * tokens / (tokens + halfSaturationTokens);
        }
        int first = table.Keys.First(), last = table.Keys.Last();
        if (microBatch <= first) return table[first];
        if (microBatch >= last) return table[last];
        if (table.TryGetValue(microBatch, out double exact)) return exact;
        int lo = table.Keys.Last(k => k < microBatch), hi = table.Keys.First(k => k > microBatch);
        double w = (Math.Log2(microBatch) - Math.Log2(lo)) / (Math.Log2(hi) - Math.Log2(lo));
        return table[lo] + w * (table[hi] - table[lo]);
    }

    public override string ToString() => table == null
        ? $"default: {maxUtilization:0.00} * tokens/(tokens+{halfSaturationTokens})"
        : "table " + string.Join(",", table.Select(p => $"{p.Key}:{p.Value:0.###}"));
}
