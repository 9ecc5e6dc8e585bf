namespace SharpInfer.Planner;

/// <summary>
/// Peak memory per pipeline stage for mixed-precision Adam training (Megatron-LM's accounting).
/// Stage i of a 1F1B pipeline holds min(m, p - i) micro-batches' activations; the interleaved schedule multiplies that
/// by 1 + (p-1)/(p*v); BPipe pairs evictor x with acceptor p-1-x and both end up near ceil((p+1)/2).
/// </summary>
public static class MemoryModel
{
    /// <summary>Default memory kept aside per GPU for the CUDA context, NCCL buffers and allocator fragmentation (bytes).</summary>
    public const double DefaultReservedBytes = 2.0 * 1024 * 1024 * 1024;

    /// <summary>Memory of every stage, index = stage.</summary>
    public static IReadOnlyList<StageMemory> Stages(ModelSpec model, TrainingSetup setup, double reservedBytes = DefaultReservedBytes) =>
        Enumerable.Range(0, setup.PipelineParallel).Select(i => Stage(model, setup, i, reservedBytes)).ToArray();

    /// <summary>The stage with the highest total.</summary>
    public static StageMemory Peak(ModelSpec model, TrainingSetup setup, double reservedBytes = DefaultReservedBytes) =>
        Stages(model, setup, reservedBytes).MaxBy(m => m.Total)!;

    /// <summary>Memory of one GPU of stage <paramref name="stage"/>.</summary>
    public static StageMemory Stage(ModelSpec model, TrainingSetup setup, int stage, double reservedBytes = DefaultReservedBytes)
    {
        double parameters = StageParameters(model, setup, stage);
        double optimizerBytesPerParameter = setup.DistributedOptimizer ? 12.0 / setup.DataParallel : 12.0;

        double inFlight = InFlightMicroBatches(setup, stage);
        var options = setup.Activation;
        int layersPerStage = model.Layers / setup.PipelineParallel;
        double perMicroBatch = layersPerStage * ActivationMemory.PerLayerBytes(model, setup.SequenceLength, setup.MicroBatch, options);
        double activations = inFlight * perMicroBatch;
        if (stage == 0)
            activations += inFlight * ActivationMemory.EmbeddingBytes(model, setup.SequenceLength, setup.MicroBatch, options);
        if (stage == setup.PipelineParallel - 1)
            activations += ActivationMemory.OutputLayerBytes(model, setup.SequenceLength, setup.MicroBatch, options); // one micro-batch at a time

        return new StageMemory(stage, parameters, 2 * parameters, 4 * parameters, optimizerBytesPerParameter * parameters,
            inFlight, activations, reservedBytes);
    }

    /// <summary>
    /// Parameters on one GPU of a stage: its L/p blocks, the embedding on the first stage, the output head (or its tied
    /// copy) and final norm on the last, all split t ways.
    /// </summary>
    public static double StageParameters(ModelSpec model, TrainingSetup setup, int stage)
    {
        int p = setup.PipelineParallel;
        double parameters = (double)model.Layers / p * model.LayerParameters;
        if (stage == 0) parameters += model.EmbeddingParameters;
        if (stage == p - 1)
        {
            bool sharesEmbedding = p == 1 && model.TiedEmbeddings;
            parameters += (sharesEmbedding ? 0 : model.EmbeddingParameters) + model.Hidden;
        }
        if (model.ParameterCountOverride is long exact)
        {
            // Scale to the known total so GGUF-derived counts (which include biases etc.) are honoured.
            double modelled = model.Layers * (double)model.LayerParameters + model.EmbeddingParameters * (model.TiedEmbeddings ? 1 : 2) + model.Hidden;
            parameters *= exact / modelled;
        }
        return parameters / setup.TensorParallel;
    }

    /// <summary>Micro-batches of activations resident at the peak on <paramref name="stage"/>.</summary>
    public static double InFlightMicroBatches(TrainingSetup setup, int stage)
    {
        int p = setup.PipelineParallel, m = setup.MicroBatches;
        double count = setup.BPipe && p > 1 ? BalancedInFlight(m, p, stage) : Math.Min(m, p - stage);
        if (setup.Schedule == PipelineSchedule.Interleaved)
            count *= 1 + (double)(p - 1) / (p * setup.Chunks);
        return count;
    }

    /// <summary>
    /// BPipe: evictor x and acceptor p-1-x share their min(m, p-x) + min(m, x+1) micro-batches; each keeps at most the
    /// rounded-up half, ceil((p+1)/2) when m >= p.
    /// </summary>
    public static int BalancedInFlight(int microBatches, int stages, int stage)
    {
        int partner = stages - 1 - stage;
        int pairTotal = Math.Min(microBatches, stages - stage) + Math.Min(microBatches, stages - partner);
        if (stage == partner) return Math.Min(microBatches, stages - stage);
        return (pairTotal + 1) / 2;
    }

    /// <summary>Activation bytes of one micro-batch over a stage's L/p blocks (what BPipe moves per eviction).</summary>
    public static double StageActivationPerMicroBatch(ModelSpec model, TrainingSetup setup) =>
        model.Layers / setup.PipelineParallel * ActivationMemory.PerLayerBytes(model, setup.SequenceLength, setup.MicroBatch, setup.Activation);

    /// <summary>Whether every stage fits in the GPU's memory.</summary>
    public static bool Fits(ModelSpec model, TrainingSetup setup, GpuSpec gpu, double reservedBytes = DefaultReservedBytes) =>
        Peak(model, setup, reservedBytes).Total <= gpu.MemoryBytes;
}
