using System.CommandLine;
using SharpInfer.Engine.Generation;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Loading;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Cli;

/// <summary>Exit codes and the one-line error convention shared by every command.</summary>
public static class CliRunner
{
    public const int Ok = 0;
    /// <summary>Bad input: a bad file, option, prompt or missing model.</summary>
    public const int BadInput = 2;

    /// <summary>Parses and runs; parse errors are bad input (exit 2), as is any expected input error thrown by an action.</summary>
    public static int Run(RootCommand root, string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        error ??= Console.Error;
        var result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            foreach (var e in result.Errors) error.WriteLine($"error: {e.Message}");
            return BadInput;
        }
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (output != null) config.Output = output;
        config.Error = error;
        try { return result.Invoke(config); }
        catch (Exception e) when (IsInputError(e))
        {
            error.WriteLine($"error: {e.Message}");
            return BadInput;
        }
    }

    /// <summary>Errors caused by what the user gave us, reported as one line without a stack trace.</summary>
    public static bool IsInputError(Exception e) => e is GgufFormatException or TokenizerFormatException or ModelNotFoundException
        or PromptTooLongException or CliInputException or SharpInfer.Planner.PlannerInputException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
        or SharpInfer.Server.Benchmarking.ServerProbeException; // a --url with no server behind it
}

/// <summary>A bad option value or combination, reported as one line with exit code 2.</summary>
public sealed class CliInputException(string message) : Exception(message);
