using System.CommandLine;
using System.Globalization;
using SharpInfer.Planner;

namespace SharpInfer.Cli.Commands;

/// <summary>
/// `sharpinfer plan`: pipeline-parallel training memory, step time and BPipe verdict, plus serving capacity.
/// Numbers and enums are taken as strings and parsed here so every bad input becomes one `error:` line and exit code 2.
/// </summary>
public static class PlanCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Preset (gpt3-96b, gpt3-134b, gpt3-175b, llama-7b/13b/33b/65b, llama2-70b), a .gguf file or a config.json", Required = true };
        var gpus = new Option<string?>("--gpus", "-n") { Description = "Number of GPUs (default: one node)" };
        var gpu = new Option<string?>("--gpu") { Description = "GPU preset: a100-40gb, a100-80gb, h100, h200 (default a100-80gb)" };
        var gpuMemory = new Option<string?>("--gpu-memory-gib") { Description = "Override GPU memory (GiB)" };
        var peak = new Option<string?>("--peak-tflops") { Description = "Override peak 16-bit TFLOP/s" };
        var intra = new Option<string?>("--intra-node-gbps") { Description = "Override intra-node bandwidth per GPU (GB/s)" };
        var inter = new Option<string?>("--inter-node-gbps") { Description = "Override inter-node bandwidth per GPU (GB/s)" };
        var perNode = new Option<string?>("--gpus-per-node") { Description = "Override GPUs per node" };
        var mfu = new Option<string?>("--mfu") { Description = "MFU by micro-batch, e.g. 1:0.42,2:0.46,4:0.48 (default: the GPU's curve)" };
        var tp = new Option<string?>("--tp", "-t") { Description = "Tensor-parallel size t" };
        var pp = new Option<string?>("--pp", "-p") { Description = "Pipeline-parallel size p" };
        var dp = new Option<string?>("--dp", "-d") { Description = "Data-parallel size d" };
        var micro = new Option<string?>("--micro-batch", "-b") { Description = "Micro-batch size b (sequences)" };
        var global = new Option<string?>("--global-batch", "-B") { Description = "Global batch B (sequences)" };
        var seq = new Option<string?>("--seq-len", "-s") { Description = "Sequence length (tokens)" };
        var schedule = new Option<string?>("--schedule") { Description = "1f1b or interleaved" };
        var chunks = new Option<string?>("--chunks", "-v") { Description = "Model chunks per stage for the interleaved schedule (default 2)" };
        var recompute = new Option<string?>("--recompute") { Description = "none, selective, full or auto (default auto: least that fits)" };
        var flash = new Option<string?>("--flash-attention") { Description = "on or off (default on)" };
        var noFlash = new Option<bool>("--no-flash-attention") { Description = "Same as --flash-attention off" };
        var sp = new Option<string?>("--sequence-parallel") { Description = "on or off (default on when t > 1)" };
        var distOpt = new Option<string?>("--distributed-optimizer") { Description = "on or off (default on)" };
        var bpipe = new Option<string?>("--bpipe") { Description = "on or off: plan the main configuration with BPipe (default off; the verdict is always given)" };
        var reserve = new Option<string?>("--reserve-gib") { Description = "Memory kept aside per GPU (GiB, default 2)" };
        var search = new Option<bool>("--search") { Description = "Also search all layouts, micro-batches and recompute modes, with and without BPipe" };
        var serveDevices = new Option<string?>("--serve-devices") { Description = "Serving: devices to split the model over (default: fewest that hold it)" };
        var weightBits = new Option<string?>("--serve-weight-bits") { Description = "Serving: bits per weight (default 16)" };
        var kvBits = new Option<string?>("--kv-bits") { Description = "Serving: bits per KV-cache element (default 16)" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of tables" };
        var chart = new Option<string?>("--chart") { Description = "Write a PNG chart of memory per stage with and without BPipe" };

        var command = new Command("plan", "Plan pipeline-parallel training (memory, step time, BPipe) and serving for a model and cluster")
        {
            model, gpus, gpu, gpuMemory, peak, intra, inter, perNode, mfu, tp, pp, dp, micro, global, seq, schedule, chunks,
            recompute, flash, noFlash, sp, distOpt, bpipe, reserve, search, serveDevices, weightBits, kvBits, json, chart,
        };
        command.TreatUnmatchedTokensAsErrors = false;

        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                if (parse.UnmatchedTokens.Count > 0)
                    throw new PlannerInputException($"unrecognised argument '{parse.UnmatchedTokens[0]}'");

                var modelSpec = PlanModelSource.Load(parse.GetValue(model)!);
                var gpuSpec = GpuPresets.Get(parse.GetValue(gpu) ?? "a100-80gb");
                if (Double(parse.GetValue(gpuMemory), "--gpu-memory-gib") is double gib) gpuSpec = gpuSpec with { MemoryBytes = gib * 1024 * 1024 * 1024 };
                if (Double(parse.GetValue(peak), "--peak-tflops") is double tf) gpuSpec = gpuSpec with { PeakFlops = tf * 1e12 };
                if (Double(parse.GetValue(intra), "--intra-node-gbps") is double bwi) gpuSpec = gpuSpec with { IntraNodeBandwidth = bwi * 1e9 };
                if (Double(parse.GetValue(inter), "--inter-node-gbps") is double bwe) gpuSpec = gpuSpec with { InterNodeBandwidth = bwe * 1e9 };
                if (Int(parse.GetValue(perNode), "--gpus-per-node") is int pn) gpuSpec = gpuSpec with { GpusPerNode = pn };
                if (parse.GetValue(mfu) is string table) gpuSpec = gpuSpec with { Mfu = MfuCurve.Parse(table) };
                int gpuCount = Int(parse.GetValue(gpus), "--gpus") ?? gpuSpec.GpusPerNode;

                bool flashOn = OnOff(parse.GetValue(flash), "--flash-attention") ?? true;
                if (parse.GetValue(noFlash)) flashOn = false;
                var request = new PlanRequest(modelSpec, new ClusterSpec(gpuSpec, gpuCount))
                {
                    TensorParallel = Int(parse.GetValue(tp), "--tp"),
                    PipelineParallel = Int(parse.GetValue(pp), "--pp"),
                    DataParallel = Int(parse.GetValue(dp), "--dp"),
                    MicroBatch = Int(parse.GetValue(micro), "--micro-batch"),
                    GlobalBatch = Int(parse.GetValue(global), "--global-batch"),
                    SequenceLength = Int(parse.GetValue(seq), "--seq-len"),
                    Schedule = ParseSchedule(parse.GetValue(schedule)),
                    Chunks = Int(parse.GetValue(chunks), "--chunks") ?? 2,
                    Recompute = ParseRecompute(parse.GetValue(recompute)),
                    FlashAttention = flashOn,
                    SequenceParallel = OnOff(parse.GetValue(sp), "--sequence-parallel") ?? true,
                    DistributedOptimizer = OnOff(parse.GetValue(distOpt), "--distributed-optimizer") ?? true,
                    BPipe = OnOff(parse.GetValue(bpipe), "--bpipe") ?? false,
                    ReservedBytes = (Double(parse.GetValue(reserve), "--reserve-gib") ?? 2) * 1024 * 1024 * 1024,
                    Search = parse.GetValue(search),
                    ServeDevices = Int(parse.GetValue(serveDevices), "--serve-devices"),
                    ServeWeightBytes = (Double(parse.GetValue(weightBits), "--serve-weight-bits") ?? 16) / 8,
                    ServeKvBytes = (Double(parse.GetValue(kvBits), "--kv-bits") ?? 16) / 8,
                };
                if (request.ReservedBytes < 0) throw new PlannerInputException("--reserve-gib must not be negative");

                var plan = TrainingPlanner.Plan(request);
                string? chartPath = parse.GetValue(chart);
                if (chartPath != null) MemoryChart.WritePng(plan, chartPath);

                if (parse.GetValue(json)) output.WriteLine(PlanJson.Serialize(plan));
                else PlanTables.Write(plan, output);
                if (chartPath != null && !parse.GetValue(json)) output.WriteLine($"chart written to {chartPath}");
                return 0;
            }
            catch (PlannerInputException e)
            {
                error.WriteLine($"error: {OneLine(e.Message)}");
                return 2;
            }
        });
        return command;
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");

    private static int? Int(string? text, string option)
    {
        if (text == null) return null;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value <= 0)
            throw new PlannerInputException($"{option} needs a positive integer (got '{text}')");
        return value;
    }

    private static double? Double(string? text, string option)
    {
        if (text == null) return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value) || value < 0)
            throw new PlannerInputException($"{option} needs a non-negative number (got '{text}')");
        return value;
    }

    private static bool? OnOff(string? text, string option) => text?.ToLowerInvariant() switch
    {
        null => null,
        "on" or "true" or "yes" or "1" => true,
        "off" or "false" or "no" or "0" => false,
        _ => throw new PlannerInputException($"{option} must be on or off (got '{text}')"),
    };

    private static PipelineSchedule ParseSchedule(string? text) => text?.ToLowerInvariant() switch
    {
        null or "1f1b" => PipelineSchedule.OneFOneB,
        "interleaved" or "interleaved-1f1b" => PipelineSchedule.Interleaved,
        _ => throw new PlannerInputException($"--schedule must be 1f1b or interleaved (got '{text}')"),
    };

    private static Recompute? ParseRecompute(string? text) => text?.ToLowerInvariant() switch
    {
        null or "auto" => null,
        "none" => Recompute.None,
        "selective" => Recompute.Selective,
        "full" => Recompute.Full,
        _ => throw new PlannerInputException($"--recompute must be none, selective, full or auto (got '{text}')"),
    };
}
