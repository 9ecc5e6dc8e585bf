using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpInfer.Planner;

/// <summary>Machine-readable form of a <see cref="TrainingPlan"/>. Memory in GiB (and bytes for totals), time in seconds.</summary>
public static class PlanJson
{
    private const double GiB = 1024.0 * 1024 * 1024;

    public static string Serialize(TrainingPlan plan) =>
        ToJson(plan).ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public static JsonObject ToJson(TrainingPlan plan)
    {
        var model = plan.Model;
        var gpu = plan.Cluster.Gpu;
        return new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["name"] = model.Name, ["layers"] = model.Layers, ["hidden"] = model.Hidden, ["heads"] = model.Heads,
                ["kvHeads"] = model.KvHeads, ["ffnHidden"] = model.FfnHidden, ["vocab"] = model.Vocab,
                ["maxSequence"] = model.MaxSequence, ["mlp"] = model.Mlp.ToString(), ["parameters"] = model.TotalParameters,
            },
            ["cluster"] = new JsonObject
            {
                ["gpu"] = gpu.Name, ["gpus"] = plan.Cluster.Gpus, ["gpusPerNode"] = gpu.GpusPerNode, ["memoryGiB"] = Round(gpu.MemoryBytes / GiB),
                ["peakTflops"] = gpu.PeakFlops / 1e12, ["intraNodeGBps"] = gpu.IntraNodeBandwidth / 1e9, ["interNodeGBps"] = gpu.InterNodeBandwidth / 1e9,
                ["mfu"] = gpu.Mfu.ToString(),
            },
            ["config"] = Config(plan.Chosen.Setup),
            ["choices"] = new JsonArray(plan.Choices.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
            ["fits"] = plan.Chosen.Fits,
            ["memory"] = new JsonObject
            {
                ["gpuMemoryGiB"] = Round(gpu.MemoryBytes / GiB),
                ["peakGiB"] = Round(plan.Stages.Max(s => s.Total) / GiB),
                ["stages"] = Stages(plan.Stages, gpu),
                ["stagesWithoutBPipe"] = Stages(plan.StagesWithoutBPipe, gpu),
                ["stagesWithBPipe"] = Stages(plan.StagesWithBPipe, gpu),
                ["bpipeMicroBatchSameLayout"] = plan.BPipeMicroBatchSameLayout,
                ["stagesWithBPipeAtLargestMicroBatch"] = plan.StagesAtBPipeMicroBatch is { } s ? Stages(s, gpu) : null,
            },
            ["stepTime"] = Time(plan.Chosen.Time),
            ["tokensPerSecond"] = Round(plan.Chosen.Time.TokensPerSecond),
            ["bpipe"] = Verdict(plan.BPipe),
            ["search"] = plan.SearchWithoutBPipe == null && plan.SearchWithBPipe == null ? null : new JsonObject
            {
                ["withoutBPipe"] = Evaluated(plan.SearchWithoutBPipe),
                ["withBPipe"] = Evaluated(plan.SearchWithBPipe),
                ["speedup"] = plan.SearchWithoutBPipe is { } a && plan.SearchWithBPipe is { } b ? Round(a.Time.Total / b.Time.Total) : null,
            },
            ["inference"] = Inference(plan.Inference),
        };
    }

    private static JsonObject Config(TrainingSetup s) => new()
    {
        ["t"] = s.TensorParallel, ["p"] = s.PipelineParallel, ["d"] = s.DataParallel, ["b"] = s.MicroBatch,
        ["B"] = s.GlobalBatch, ["s"] = s.SequenceLength, ["microBatches"] = s.MicroBatches,
        ["schedule"] = s.Schedule == PipelineSchedule.Interleaved ? "interleaved" : "1f1b", ["chunks"] = s.VirtualStages,
        ["recompute"] = s.Recompute.ToString().ToLowerInvariant(), ["flashAttention"] = s.FlashAttention,
        ["sequenceParallel"] = s.SequenceParallel && s.TensorParallel > 1, ["distributedOptimizer"] = s.DistributedOptimizer, ["bpipe"] = s.BPipe,
    };

    private static JsonArray Stages(IReadOnlyList<StageMemory> stages, GpuSpec gpu) => new(stages.Select(s => (JsonNode?)new JsonObject
    {
        ["stage"] = s.Stage, ["parametersPerGpu"] = Math.Round(s.Parameters), ["weightsGiB"] = Round(s.Weights / GiB),
        ["gradientsGiB"] = Round(s.Gradients / GiB), ["optimizerGiB"] = Round(s.OptimizerState / GiB),
        ["inFlightMicroBatches"] = Round(s.InFlightMicroBatches), ["activationsGiB"] = Round(s.Activations / GiB),
        ["reservedGiB"] = Round(s.Reserved / GiB), ["totalGiB"] = Round(s.Total / GiB), ["totalBytes"] = Math.Round(s.Total),
        ["fits"] = s.Total <= gpu.MemoryBytes,
    }).ToArray());

    private static JsonObject Time(StepTime t) => new()
    {
        ["totalSeconds"] = Round(t.Total), ["computePerMicroBatchSeconds"] = Round(t.ComputePerMicroBatch),
        ["pipelineComputeSeconds"] = Round(t.PipelineCompute), ["bubbleFraction"] = Round(t.BubbleFraction),
        ["pointToPointSeconds"] = Round(t.PointToPoint), ["bpipeTransferSeconds"] = Round(t.BPipeTransferTotal),
        ["bpipeTransferExposedSeconds"] = Round(t.BPipeTransferExposed), ["dataParallelAllReduceSeconds"] = Round(t.DataParallelAllReduce),
        ["mfu"] = Round(t.Mfu), ["modelFlopsUtilization"] = Round(t.ModelFlopsUtilization), ["tokensPerSecond"] = Round(t.TokensPerSecond),
    };

    private static JsonObject? Evaluated(EvaluatedSetup? e) => e == null ? null : new JsonObject
    {
        ["config"] = Config(e.Setup), ["fits"] = e.Fits, ["peakGiB"] = Round(e.PeakStage.Total / GiB),
        ["peakStage"] = e.PeakStage.Stage, ["stepSeconds"] = Round(e.Time.Total), ["tokensPerSecond"] = Round(e.Time.TokensPerSecond),
        ["mfu"] = Round(e.Time.Mfu), ["bubbleFraction"] = Round(e.Time.BubbleFraction),
    };

    private static JsonObject Verdict(BPipeVerdict v) => new()
    {
        ["verdict"] = v.Verdict,
        ["speedup"] = v.Speedup is double s ? Round(s) : null,
        ["microBatch"] = v.Baseline?.Setup.MicroBatch,
        ["microBatchWithBPipe"] = v.WithBPipe?.Setup.MicroBatch,
        ["baseline"] = Evaluated(v.Baseline),
        ["withBPipe"] = Evaluated(v.WithBPipe),
        ["activationShare"] = Round(v.ActivationShare),
        ["attentionScoreShare"] = Round(v.AttentionScoreShare),
        ["attentionScoresStored"] = v.AttentionScoresStored,
        ["headroomGiB"] = Round(v.BaselineHeadroomBytes / GiB),
        ["nextMicroBatchPeakGiB"] = v.NextMicroBatchPeakBytes is double n ? Round(n / GiB) : null,
        ["reasons"] = new JsonArray(v.Reasons.Select(r => (JsonNode?)JsonValue.Create(r)).ToArray()),
    };

    private static JsonObject Inference(InferencePlan p) => new()
    {
        ["kvBytesPerToken"] = p.KvBytesPerToken, ["weightsGiB"] = Round(p.WeightBytes / GiB),
        ["singleDeviceMaxTokens"] = p.SingleDeviceMaxTokens, ["devices"] = p.Devices, ["context"] = p.Context,
        ["maxTokens"] = p.MaxTokens, ["maxBatchAtContext"] = p.MaxBatchAtContext,
        ["stages"] = new JsonArray(p.Stages.Select(s => (JsonNode?)new JsonObject
        {
            ["device"] = s.Device, ["firstLayer"] = s.FirstLayer, ["layers"] = s.LayerCount, ["weightsGiB"] = Round(s.WeightBytes / GiB),
            ["kvBytesPerToken"] = s.KvBytesPerToken, ["kvCapacityTokens"] = s.KvCapacityTokens,
        }).ToArray()),
    };

    private static double Round(double value) => Math.Round(value, 4);
}
