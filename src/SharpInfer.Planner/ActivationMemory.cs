namespace SharpInfer.Planner;

/// <summary>What decides how activations are stored: t, sequence parallelism, flash attention and recompute.</summary>
public sealed record ActivationOptions(int TensorParallel, bool SequenceParallel, bool FlashAttention, Recompute Recompute);

/// <summary>Bytes one transformer block stores for the backward pass, on one tensor-parallel rank, split by origin.</summary>
/// <param name="Attention">Attention block without the score matrices (bytes).</param>
/// <param name="AttentionScores">Softmax, its dropout mask and dropout output: 5*a*s^2*b/t (bytes); zero with flash attention or selective recompute.</param>
/// <param name="Mlp">Feed-forward block (bytes).</param>
/// <param name="Norms">The two layer-norm inputs (bytes).</param>
public sealed record ActivationBreakdown(double Attention, double AttentionScores, double Mlp, double Norms)
{
    public double Total => Attention + AttentionScores + Mlp + Norms;
}

/// <summary>
/// Activation memory per transformer block, after Korthikanti et al. (Megatron-LM), 16-bit activations with dropout.
/// For a GPT block (GeLU MLP of width 4h, no GQA) this gives exactly:
///   no parallelism           s*b*h*(34 + 5*a*s/h)
///   tensor parallel          s*b*h*(10 + 24/t + 5*a*s/(h*t))
///   + sequence parallel      (s*b*h/t)*(34 + 5*a*s/h)
///   + selective recompute    34*s*b*h/t (with SP) or s*b*h*(10 + 24/t) (without); flash attention stores the same
///   full recompute           2*s*b*h (only each block's input is kept)
/// Term by term (elements * bytes):
///   attention: input of the QKV projection 2sbh, Q and K for QK^T 2sbh + 2sb*hk, V 2sb*hk, input of the output
///              projection 2sbh, output dropout mask sbh = 11sbh when hk = h; plus scores 5as^2b.
///   MLP (GeLU): input 2sbh, GeLU input 2sbf, GeLU output 2sbf, dropout mask sbh = 19sbh when f = 4h.
///   MLP (SwiGLU, out = W2 (silu(W1 x) * W3 x)): input 2sbh (shared by W1 and W3), gate pre-activation W1x 2sbf
///              (for silu's derivative), silu(W1 x) 2sbf and W3 x 2sbf (each is the other's gradient factor in the
///              product), the product 2sbf (input of W2, for its weight gradient), dropout mask sbh = 3sbh + 8sbf.
///              With LLaMA's f ~ 8h/3 that is about 24.3sbh instead of GeLU's 19sbh.
///   norms: the inputs of the two layer norms, 2sbh each = 4sbh.
/// Under tensor parallelism without SP the block inputs, dropout masks and norm inputs (10sbh) are replicated on every
/// rank; everything inside the column/row-parallel pair is split t ways. Sequence parallelism splits the rest too.
/// hk = KV heads * head width (GQA); when t exceeds the KV heads each rank keeps one replicated KV head.
/// </summary>
public static class ActivationMemory
{
    /// <summary>Activation bytes of one block for one micro-batch on one tensor-parallel rank.</summary>
    public static double PerLayerBytes(ModelSpec model, int sequenceLength, int microBatch, ActivationOptions options) =>
        PerLayer(model, sequenceLength, microBatch, options).Total;

    /// <summary>Same as <see cref="PerLayerBytes"/>, split by origin.</summary>
    public static ActivationBreakdown PerLayer(ModelSpec model, int sequenceLength, int microBatch, ActivationOptions options)
    {
        int t = options.TensorParallel;
        double s = sequenceLength, b = microBatch, h = model.Hidden, f = model.FfnHidden;
        double sbh = s * b * h;

        if (options.Recompute == Recompute.Full)
            return new ActivationBreakdown(0, 0, 0, 2 * sbh); // only the block input; the paper keeps it unsplit

        // Per-rank widths of the tensors split by tensor parallelism (all integers when t divides them).
        double qWidthPerRank = h / t;
        double kvWidthPerRank = model.KvHeads % t == 0 ? (double)model.KvWidth / t : model.HeadDim;
        double ffnPerRank = f / t;
        double headsPerRank = (double)model.Heads / t;

        // Replicated across tensor-parallel ranks unless sequence parallelism splits them.
        double replicatedDivisor = options.SequenceParallel ? t : 1;
        double attentionReplicated = 3 * sbh / replicatedDivisor;   // QKV input 2sbh + dropout mask sbh
        double mlpReplicated = 3 * sbh / replicatedDivisor;         // MLP input 2sbh + dropout mask sbh
        double norms = 4 * sbh / replicatedDivisor;

        double attentionSplit = s * b * (2 * qWidthPerRank + 2 * kvWidthPerRank + 2 * kvWidthPerRank + 2 * qWidthPerRank);
        double mlpSplit = model.Mlp == MlpKind.Gelu ? s * b * 4 * ffnPerRank : s * b * 8 * ffnPerRank;

        bool scoresStored = !options.FlashAttention && options.Recompute == Recompute.None;
        double scores = scoresStored ? 5 * headsPerRank * s * s * b : 0;

        return new ActivationBreakdown(attentionReplicated + attentionSplit, scores, mlpReplicated + mlpSplit, norms);
    }

    /// <summary>
    /// Extra activations of the first stage per in-flight micro-batch: the embedding output's dropout mask, s*b*h bytes
    /// (split t ways under sequence parallelism).
    /// </summary>
    public static double EmbeddingBytes(ModelSpec model, int sequenceLength, int microBatch, ActivationOptions options) =>
        (double)sequenceLength * microBatch * model.Hidden / (options.SequenceParallel ? options.TensorParallel : 1);

    /// <summary>
    /// Output layer and loss on the last stage: 4*s*b*h*(1 + V/h) bytes, split t ways because the logits are
    /// vocabulary-parallel (final norm input and logits in 16 bits, fp32 logits for the loss).
    /// </summary>
    public static double OutputLayerBytes(ModelSpec model, int sequenceLength, int microBatch, ActivationOptions options) =>
        4.0 * sequenceLength * microBatch * model.Hidden * (1 + (double)model.Vocab / model.Hidden) / options.TensorParallel;
}
