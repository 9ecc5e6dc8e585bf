namespace SharpInfer.Planner;

/// <summary>
/// FLOPs of training, counting a multiply-add as 2 FLOPs. One block's forward pass over b sequences of s tokens:
/// 2*b*s*(matmul weights) + 4*b*s^2*h (QK^T and scores*V), i.e. 24*b*s*h^2*(1 + s/(6h)) for GPT. The backward pass
/// costs twice the forward. The logits add 2*b*s*h*V forward.
/// </summary>
public static class FlopsModel
{
    /// <summary>Forward FLOPs of one block for one micro-batch.</summary>
    public static double LayerForward(ModelSpec model, int sequenceLength, int microBatch)
    {
        double tokens = (double)sequenceLength * microBatch;
        return 2 * tokens * model.LayerMatmulParameters + 4 * tokens * sequenceLength * model.Hidden;
    }

    /// <summary>Forward FLOPs of the attention core only (what selective recompute and flash attention's backward redo).</summary>
    public static double AttentionCoreForward(ModelSpec model, int sequenceLength, int microBatch) =>
        4.0 * microBatch * sequenceLength * sequenceLength * model.Hidden;

    /// <summary>Forward FLOPs of the output layer (logits) for one micro-batch.</summary>
    public static double LogitsForward(ModelSpec model, int sequenceLength, int microBatch) =>
        2.0 * sequenceLength * microBatch * model.Hidden * model.Vocab;

    /// <summary>Model FLOPs of forward + backward over the whole model for one micro-batch (no recompute counted).</summary>
    public static double ModelFlopsPerMicroBatch(ModelSpec model, int sequenceLength, int microBatch) =>
        3 * (model.Layers * LayerForward(model, sequenceLength, microBatch) + LogitsForward(model, sequenceLength, microBatch));

    /// <summary>
    /// FLOPs one GPU of the busiest stage (the last, which also computes the logits) executes per micro-batch,
    /// recomputation included, after the t-way split.
    /// </summary>
    public static double ExecutedPerMicroBatchPerGpu(ModelSpec model, TrainingSetup setup)
    {
        int s = setup.SequenceLength, b = setup.MicroBatch;
        int layers = model.Layers / setup.PipelineParallel;
        double layer = LayerForward(model, s, b);
        double recomputePerLayer = setup.Recompute switch
        {
            Recompute.Full => layer,
            // Selective recompute redoes the attention core; flash attention's backward does the same internally.
            _ when setup.Recompute == Recompute.Selective || setup.FlashAttention => AttentionCoreForward(model, s, b),
            _ => 0,
        };
        double stage = layers * (3 * layer + recomputePerLayer) + 3 * LogitsForward(model, s, b);
        return stage / setup.TensorParallel;
    }
}
