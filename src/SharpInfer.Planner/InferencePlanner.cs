namespace SharpInfer.Planner;

/// <summary>One serving device's share of the model under a pipeline-parallel split.</summary>
/// <param name="Device">Device index.</param>
/// <param name="FirstLayer">First block on this device.</param>
/// <param name="LayerCount">Blocks on this device.</param>
/// <param name="WeightBytes">Weights held (bytes).</param>
/// <param name="KvBytesPerToken">KV cache one token costs on this device (bytes).</param>
/// <param name="KvCapacityTokens">Tokens of KV cache that fit in the rest of the memory.</param>
public sealed record ServingStage(int Device, int FirstLayer, int LayerCount, double WeightBytes, double KvBytesPerToken, long KvCapacityTokens);

/// <summary>Serving plan: KV-cache cost, capacity, and a stage split over devices.</summary>
/// <param name="KvBytesPerToken">2 (K and V) * L * KV heads * head width * bytes per element, whole model (bytes).</param>
/// <param name="WeightBytes">All weights at the serving precision (bytes).</param>
/// <param name="SingleDeviceMaxTokens">KV tokens (batch x context) that fit on one device after the whole model's weights; 0 if they don't fit.</param>
/// <param name="Devices">Devices in the split.</param>
/// <param name="Context">Context length assumed per sequence (tokens).</param>
/// <param name="MaxTokens">Batch x context that fits over the split: the smallest stage capacity.</param>
/// <param name="MaxBatchAtContext">Sequences of <paramref name="Context"/> tokens that fit at once.</param>
/// <param name="Stages">Per-device split.</param>
public sealed record InferencePlan(
    double KvBytesPerToken, double WeightBytes, long SingleDeviceMaxTokens, int Devices, int Context,
    long MaxTokens, long MaxBatchAtContext, IReadOnlyList<ServingStage> Stages);

/// <summary>Plans serving: KV-cache bytes per token and a pipeline-parallel split of the layers over devices.</summary>
public static class InferencePlanner
{
    /// <summary>KV-cache bytes one token costs over the whole model: 2 * L * KvHeads * HeadDim * bytesPerElement.</summary>
    public static double KvBytesPerToken(ModelSpec model, double bytesPerElement) =>
        2.0 * model.Layers * model.KvWidth * bytesPerElement;

    /// <param name="devices">Devices to split over; null picks the fewest whose memory holds the weights and one full context.</param>
    /// <param name="reservedBytes">Memory kept aside per device (bytes): context, activations, fragmentation.</param>
    public static InferencePlan Plan(ModelSpec model, GpuSpec gpu, int? devices, double weightBytesPerParameter, double kvBytesPerElement, double reservedBytes)
    {
        if (devices is <= 0) throw new PlannerInputException($"serving devices must be positive (got {devices})");
        if (devices > model.Layers) throw new PlannerInputException($"cannot split {model.Layers} layers over {devices} devices");
        if (weightBytesPerParameter <= 0 || kvBytesPerElement <= 0) throw new PlannerInputException("serving weight and KV bytes per element must be positive");
        int context = model.MaxSequence;
        double kvPerToken = KvBytesPerToken(model, kvBytesPerElement);
        double weights = model.TotalParameters * weightBytesPerParameter;
        long single = Capacity(gpu.MemoryBytes - reservedBytes - weights, kvPerToken);

        int chosen = devices ?? Enumerable.Range(1, model.Layers)
            .FirstOrDefault(n => Split(model, gpu, n, weightBytesPerParameter, kvBytesPerElement, reservedBytes).Min(s => s.KvCapacityTokens) >= context, model.Layers);
        var stages = Split(model, gpu, chosen, weightBytesPerParameter, kvBytesPerElement, reservedBytes);
        long maxTokens = stages.Min(s => s.KvCapacityTokens);
        return new InferencePlan(kvPerToken, weights, single, chosen, context, maxTokens, maxTokens / context, stages);
    }

    /// <summary>Even split of the blocks (the first devices take the remainder); embedding on the first, head on the last.</summary>
    public static IReadOnlyList<ServingStage> Split(ModelSpec model, GpuSpec gpu, int devices, double weightBytesPerParameter, double kvBytesPerElement, double reservedBytes)
    {
        double scale = model.ParameterCountOverride is long exact
            ? exact / (model.Layers * (double)model.LayerParameters + model.EmbeddingParameters * (model.TiedEmbeddings ? 1 : 2) + model.Hidden)
            : 1.0;
        var stages = new List<ServingStage>(devices);
        int first = 0;
        for (int i = 0; i < devices; i++)
        {
            int count = model.Layers / devices + (i < model.Layers % devices ? 1 : 0);
            double parameters = (double)count * model.LayerParameters;
            if (i == 0) parameters += model.EmbeddingParameters;
            if (i == devices - 1) parameters += (devices == 1 && model.TiedEmbeddings ? 0 : model.EmbeddingParameters) + model.Hidden;
            double weightBytes = parameters * scale * weightBytesPerParameter;
            double kvPerToken = 2.0 * count * model.KvWidth * kvBytesPerElement;
            stages.Add(new ServingStage(i, first, count, weightBytes, kvPerToken, Capacity(gpu.MemoryBytes - reservedBytes - weightBytes, kvPerToken)));
            first += count;
        }
        return stages;
    }

    private static long Capacity(double freeBytes, double bytesPerToken) =>
        freeBytes <= 0 || bytesPerToken <= 0 ? 0 : (long)Math.Floor(freeBytes / bytesPerToken);
}
