namespace SharpInfer.Planner;

/// <summary>Built-in GPUs. Bandwidths are per GPU and one direction: NVLink 300/450 GB/s, one HDR (25 GB/s) or NDR (50 GB/s) NIC per GPU.</summary>
public static class GpuPresets
{
    private const double GiB = 1024.0 * 1024 * 1024;
    private const double GB = 1e9;
    private const double TeraFlops = 1e12;

    private static readonly Dictionary<string, GpuSpec> Presets = new(StringComparer.OrdinalIgnoreCase)
    {
        ["a100-40gb"] = new("A100-40GB", 40 * GiB, 312 * TeraFlops, 300 * GB, 25 * GB, 8, MfuCurve.DefaultA100),
        ["a100-80gb"] = new("A100-80GB", 80 * GiB, 312 * TeraFlops, 300 * GB, 25 * GB, 8, MfuCurve.DefaultA100),
        ["h100"] = new("H100-SXM-80GB", 80 * GiB, 989 * TeraFlops, 450 * GB, 50 * GB, 8, MfuCurve.DefaultHopper),
        ["h200"] = new("H200-SXM-141GB", 141 * GB, 989 * TeraFlops, 450 * GB, 50 * GB, 8, MfuCurve.DefaultHopper),
    };

    public static IReadOnlyCollection<string> Names => Presets.Keys;

    /// <summary>Finds a preset; "A100-80GB", "a100_80gb", "a100" (80 GB) and "h100-80gb" all work.</summary>
    public static GpuSpec Get(string name)
    {
        string key = Normalize(name);
        if (key == "a100") key = "a10080gb";
        if (key is "h10080gb" or "h100sxm") key = "h100";
        if (key is "h200141gb" or "h200sxm") key = "h200";
        foreach (var (presetName, spec) in Presets)
            if (Normalize(presetName) == key) return spec;
        throw new PlannerInputException($"unknown GPU preset '{name}' (known: {string.Join(", ", Presets.Keys)})");
    }

    private static string Normalize(string name) => new(name.ToLowerInvariant().Where(char.IsLetterOrDigit).ToArray());
}
