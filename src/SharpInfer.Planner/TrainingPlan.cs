namespace SharpInfer.Planner;

/// <summary>Everything the planner found for one request.</summary>
/// <param name="Model">The model planned.</param>
/// <param name="Cluster">The cluster planned for.</param>
/// <param name="Chosen">The main configuration (chosen or as given), evaluated.</param>
/// <param name="Stages">Memory per stage of the main configuration as planned (with BPipe only if requested).</param>
/// <param name="StagesWithoutBPipe">Memory per stage at the main configuration without BPipe.</param>
/// <param name="StagesWithBPipe">Memory per stage at the main configuration's b with BPipe balancing.</param>
/// <param name="StagesAtBPipeMicroBatch">Memory per stage of the same layout with BPipe at the largest micro-batch that fits (null if none).</param>
/// <param name="BPipeMicroBatchSameLayout">That micro-batch.</param>
/// <param name="BPipe">BPipe's predicted effect.</param>
/// <param name="SearchWithoutBPipe">Fastest fitting config over all layouts, micro-batches and recompute modes (search mode).</param>
/// <param name="SearchWithBPipe">Same with BPipe.</param>
/// <param name="Inference">Serving plan.</param>
/// <param name="Choices">What the planner chose for the options left open, and why.</param>
public sealed record TrainingPlan(
    ModelSpec Model, ClusterSpec Cluster, EvaluatedSetup Chosen, IReadOnlyList<StageMemory> Stages,
    IReadOnlyList<StageMemory> StagesWithoutBPipe, IReadOnlyList<StageMemory> StagesWithBPipe,
    IReadOnlyList<StageMemory>? StagesAtBPipeMicroBatch, int? BPipeMicroBatchSameLayout, BPipeVerdict BPipe,
    EvaluatedSetup? SearchWithoutBPipe, EvaluatedSetup? SearchWithBPipe, InferencePlan Inference, IReadOnlyList<string> Choices);
