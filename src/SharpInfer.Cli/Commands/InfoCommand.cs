using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Cli.Commands;

/// <summary>`sharpinfer info MODEL`: architecture, hyper-parameters, tokenizer and a table of tensors.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var model = new Argument<string?>("model") { Description = "GGUF file (path, name in $SHARPINFER_MODELS, or hf:...)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("info", "Show a GGUF model's architecture, hyper-parameters, tokenizer and tensors") { model };
        command.SetAction(parse =>
        {
            string path = ModelOptions.Resolve(parse.GetValue(model));
            using var file = GgufFile.Open(path);
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output) });
            var config = LlamaConfig.FromGguf(file);
            var tokenizer = Tokenizer.Create(GgufVocabulary.Read(file));
            var inv = CultureInfo.InvariantCulture;

            var summary = new Table().Border(TableBorder.Rounded).AddColumn("property").AddColumn("value");
            void Row(string k, object v) => summary.AddRow(Markup.Escape(k), Markup.Escape(Convert.ToString(v, inv) ?? ""));
            Row("file", path);
            Row("gguf version", file.Version);
            Row("name", file.TryGetString("general.name") ?? "");
            Row("architecture", config.Architecture);
            Row("context length", config.ContextLength);
            Row("embedding (dim)", config.Dim);
            Row("layers", config.Layers);
            Row("heads / kv heads", $"{config.Heads} / {config.KvHeads}");
            Row("head dim / rope dim", $"{config.HeadDim} / {config.RopeDim}");
            Row("feed-forward", config.FfnDim);
            Row("rope", $"{config.RopeStyle}, base {config.RopeBase.ToString(inv)}, linear scale {config.RopeLinearScale.ToString(inv)}{(config.RopeFrequencyFactors != null ? ", llama3 factors" : "")}");
            Row("rms eps", config.RmsEps);
            Row("vocabulary", $"{tokenizer.VocabularySize} ({file.GetString("tokenizer.ggml.model")}{(file.TryGetString("tokenizer.ggml.pre") is { } pre ? ", pre " + pre : "")})");
            Row("bos / eos", $"{tokenizer.BosId} {tokenizer.TokenText(tokenizer.BosId)} / {tokenizer.EosId} {tokenizer.TokenText(tokenizer.EosId)}");
            Row("chat template", file.Has("tokenizer.chat_template") ? "yes" : "no");
            long parameters = file.Tensors.Sum(t => (long)t.ElementCount);
            long bytes = file.Tensors.Sum(t => t.ByteSize);
            Row("parameters", $"{parameters:N0}");
            Row("tensor bytes", $"{bytes:N0} ({bytes / 1048576.0:F1} MiB)");
            console.Write(summary);

            var tensors = new Table().Border(TableBorder.Simple).AddColumn("tensor").AddColumn("type").AddColumn("shape").AddColumn(new TableColumn("elements").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
            foreach (var t in file.Tensors)
                tensors.AddRow(Markup.Escape(t.Name), t.Type.ToString(), t.ShapeText, t.ElementCount.ToString("N0", inv), t.ByteSize.ToString("N0", inv));
            console.Write(tensors);
            return CliRunner.Ok;
        });
        return command;
    }
}
