using SharpInfer.Planner;
using SharpInfer.Tests;

namespace SharpInfer.Planner.Tests;

public class LoaderAndInferenceTests
{
    [Fact]
    public void HuggingFaceConfigIsRead()
    {
        const string json = """{"hidden_size":8192,"num_hidden_layers":80,"num_attention_heads":64,"num_key_value_heads":8,"intermediate_size":28672,"vocab_size":32000,"max_position_embeddings":4096,"hidden_act":"silu"}""";
        var model = ModelLoaders.FromHuggingFaceConfig(json, "llama2");
        Assert.Equal((80, 8192, 64, 8, 28672, 32000, 4096), (model.Layers, model.Hidden, model.Heads, model.KvHeads, model.FfnHidden, model.Vocab, model.MaxSequence));
        Assert.Equal(MlpKind.SwiGlu, model.Mlp);
    }

    [Fact]
    public void MissingConfigFieldIsNamed()
    {
        var e = Assert.Throws<PlannerInputException>(() => ModelLoaders.FromHuggingFaceConfig("""{"hidden_size":64,"num_hidden_layers":2}""", "x"));
        Assert.Contains("num_attention_heads", e.Message);
        Assert.Throws<PlannerInputException>(() => ModelLoaders.FromHuggingFaceConfig("not json", "x"));
    }

    [Fact]
    public void GgufMetadataIsRead()
    {
        var metadata = new Dictionary<string, object>
        {
            ["general.architecture"] = "llama", ["llama.embedding_length"] = 64u, ["llama.block_count"] = 5u,
            ["llama.feed_forward_length"] = 172u, ["llama.attention.head_count"] = 8u, ["llama.attention.head_count_kv"] = 4u,
            ["llama.context_length"] = 128u, ["tokenizer.ggml.tokens"] = new string[512],
        };
        var model = ModelLoaders.FromGgufMetadata(metadata, 292_800, "tiny");
        Assert.Equal((5, 64, 8, 4, 172, 512, 128), (model.Layers, model.Hidden, model.Heads, model.KvHeads, model.FfnHidden, model.Vocab, model.MaxSequence));
        Assert.Equal(292_800, model.TotalParameters);
        metadata.Remove("llama.block_count");
        Assert.Contains("llama.block_count", Assert.Throws<PlannerInputException>(() => ModelLoaders.FromGgufMetadata(metadata, null, "tiny")).Message);
    }

    [Fact]
    public void GgufFileOnDiskIsRead()
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return;
        var model = ModelLoaders.FromGgufFile(path);
        Assert.Equal((5, 64, 8, 4, 172, 512), (model.Layers, model.Hidden, model.Heads, model.KvHeads, model.FfnHidden, model.Vocab));
        Assert.InRange(model.TotalParameters, 250_000, 300_000);
        var plan = TrainingPlanner.Plan(new PlanRequest(model, new ClusterSpec(GpuPresets.Get("h100"), 8)));
        Assert.True(plan.Chosen.Fits);
    }

    [Fact]
    public void KvBytesPerTokenIsTwoTimesLayersTimesKvWidthTimesBytes()
    {
        var llama2 = ModelPresets.Get("llama2-70b");
        Assert.Equal(2.0 * 80 * 8 * 128 * 2, InferencePlanner.KvBytesPerToken(llama2, 2));
        var llama = ModelPresets.Get("llama-65b");
        Assert.Equal(2.0 * 80 * 64 * 128 * 1, InferencePlanner.KvBytesPerToken(llama, 1));
    }

    [Fact]
    public void ServingSplitCoversAllLayersAndCapacityIsTheSmallestStage()
    {
        var model = ModelPresets.Get("llama2-70b");
        var gpu = GpuPresets.Get("a100-80gb");
        var plan = InferencePlanner.Plan(model, gpu, devices: 3, 2, 2, 0);
        Assert.Equal(model.Layers, plan.Stages.Sum(s => s.LayerCount));
        Assert.Equal(new[] { 27, 27, 26 }, plan.Stages.Select(s => s.LayerCount));
        Assert.Equal(plan.Stages.Min(s => s.KvCapacityTokens), plan.MaxTokens);
        var first = plan.Stages[0];
        double expectedWeights = (27.0 * model.LayerParameters + model.EmbeddingParameters) * 2;
        Assert.Equal(expectedWeights, first.WeightBytes, 0);
        Assert.Equal((long)Math.Floor((gpu.MemoryBytes - expectedWeights) / (2.0 * 27 * 1024 * 2)), first.KvCapacityTokens);
        Assert.Equal(plan.MaxTokens / 4096, plan.MaxBatchAtContext);
        // 70B in 16 bits does not fit one 80 GiB device; the default picks the fewest that hold it with a full context.
        Assert.Equal(0, plan.SingleDeviceMaxTokens);
        var auto = InferencePlanner.Plan(model, gpu, null, 2, 2, 0);
        Assert.True(auto.MaxTokens >= 4096);
        Assert.True(InferencePlanner.Plan(model, gpu, auto.Devices - 1, 2, 2, 0).MaxTokens < 4096);
    }
}
