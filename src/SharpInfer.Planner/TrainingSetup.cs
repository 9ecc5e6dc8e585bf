namespace SharpInfer.Planner;

/// <summary>How much of the forward pass is recomputed in the backward pass instead of being stored.</summary>
public enum Recompute { None, Selective, Full }

/// <summary>Pipeline schedule: plain 1F1B, or Megatron's interleaved 1F1B with v model chunks per stage.</summary>
public enum PipelineSchedule { OneFOneB, Interleaved }

/// <summary>
/// A fully specified training configuration. Sizes: t tensor-, p pipeline-, d data-parallel; b micro-batch and
/// B global batch in sequences; s tokens per sequence.
/// </summary>
public sealed record TrainingSetup(
    int TensorParallel, int PipelineParallel, int DataParallel,
    int MicroBatch, int GlobalBatch, int SequenceLength,
    PipelineSchedule Schedule = PipelineSchedule.OneFOneB, int Chunks = 1,
    Recompute Recompute = Recompute.None, bool FlashAttention = true, bool SequenceParallel = true,
    bool DistributedOptimizer = true, bool BPipe = false)
{
    /// <summary>Micro-batches per step per pipeline: m = B / (b * d).</summary>
    public int MicroBatches => GlobalBatch / (MicroBatch * DataParallel);

    /// <summary>Model chunks per stage (1 unless interleaved).</summary>
    public int VirtualStages => Schedule == PipelineSchedule.Interleaved ? Chunks : 1;

    public int Gpus => TensorParallel * PipelineParallel * DataParallel;

    public ActivationOptions Activation => new(TensorParallel, SequenceParallel && TensorParallel > 1, FlashAttention, Recompute);

    public override string ToString() =>
        $"t={TensorParallel} p={PipelineParallel} d={DataParallel} b={MicroBatch} B={GlobalBatch} s={SequenceLength} " +
        $"{(Schedule == PipelineSchedule.Interleaved ? $"interleaved v={Chunks}" : "1F1B")} recompute={Recompute.ToString().ToLowerInvariant()} " +
        $"flash={(FlashAttention ? "on" : "off")} sp={(SequenceParallel && TensorParallel > 1 ? "on" : "off")} " +
        $"distopt={(DistributedOptimizer ? "on" : "off")} bpipe={(BPipe ? "on" : "off")}";

    /// <summary>Throws <see cref="PlannerInputException"/> when the setup cannot run this model on this cluster.</summary>
    public void Validate(ModelSpec model, ClusterSpec cluster)
    {
        int t = TensorParallel, p = PipelineParallel, d = DataParallel;
        if (t <= 0 || p <= 0 || d <= 0) throw new PlannerInputException($"parallel sizes must be positive (t={t}, p={p}, d={d})");
        if (t * p * d != cluster.Gpus)
            throw new PlannerInputException($"t*p*d = {t}*{p}*{d} = {t * p * d} does not equal the {cluster.Gpus} GPUs");
        if (model.Layers % p != 0)
            throw new PlannerInputException($"{model.Layers} layers are not divisible by pipeline size p={p}");
        if (model.Heads % t != 0 || model.Hidden % t != 0 || model.FfnHidden % t != 0)
            throw new PlannerInputException($"tensor-parallel size t={t} must divide heads ({model.Heads}), hidden ({model.Hidden}) and FFN width ({model.FfnHidden})");
        if (model.KvHeads % t != 0 && t % model.KvHeads != 0)
            throw new PlannerInputException($"tensor-parallel size t={t} and {model.KvHeads} KV heads must divide one another");
        if (t > cluster.Gpu.GpusPerNode)
            throw new PlannerInputException($"tensor-parallel size t={t} exceeds the {cluster.Gpu.GpusPerNode} GPUs per node");
        if (MicroBatch <= 0 || GlobalBatch <= 0 || SequenceLength <= 0)
            throw new PlannerInputException($"micro-batch, global batch and sequence length must be positive (b={MicroBatch}, B={GlobalBatch}, s={SequenceLength})");
        if (GlobalBatch % (MicroBatch * d) != 0)
            throw new PlannerInputException($"global batch B={GlobalBatch} is not divisible by micro-batch b={MicroBatch} times d={d}");
        if (Schedule == PipelineSchedule.Interleaved)
        {
            if (Chunks < 2) throw new PlannerInputException($"the interleaved schedule needs v >= 2 chunks (got {Chunks})");
            if (p < 2) throw new PlannerInputException("the interleaved schedule needs p >= 2");
            if (model.Layers % (p * Chunks) != 0)
                throw new PlannerInputException($"{model.Layers} layers are not divisible by p*v = {p}*{Chunks}");
            if (MicroBatches % p != 0)
                throw new PlannerInputException($"the interleaved schedule needs the {MicroBatches} micro-batches to be a multiple of p={p}");
        }
    }
}
