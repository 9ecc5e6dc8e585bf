using System.CommandLine;
using Spectre.Console;
using SharpInfer.Models.Loading;

namespace SharpInfer.Cli.Commands;

/// <summary>The --model option and how its value becomes a local file.</summary>
internal static class ModelOptions
{
    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = $"GGUF file: a path, a file name in ${ModelLocator.ModelsVariable}, or hf:OWNER/REPO/PATH.gguf (default {ModelLocator.DefaultModel})",
    };

    public static Option<int> Threads() => new("--threads", "-t")
    {
        Description = "Worker threads (default: all cores)",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    /// <summary>Resolves the model, showing a progress bar on stderr while downloading.</summary>
    public static string Resolve(string? model)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        ProgressTask? task = null;
        var locator = new ModelLocator
        {
            Progress = (done, total) =>
            {
                if (task == null) return;
                if (total is { } t) task.MaxValue = t;
                task.Value = done;
            },
        };
        // Only a download needs the progress display; local files resolve at once.
        if (locator.FindLocal(model) is { } local) return local;
        return console.Progress().AutoClear(true).Start(ctx =>
        {
            task = ctx.AddTask($"downloading {model ?? ModelLocator.DefaultModel}", maxValue: 1);
            return locator.Resolve(model);
        });
    }
}
