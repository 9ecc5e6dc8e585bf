using System.CommandLine;

namespace SharpInfer.Cli.Tests;

/// <summary>Runs commands the way `sharpinfer` does (through CliRunner) and captures what they print.</summary>
internal static class CliHarness
{
    public static (int Code, string Out, string Err) Run(RootCommand root, string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CliRunner.Run(root, args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Runs `sharpinfer bench ...` (args start with "bench").</summary>
    public static (int Code, string Out, string Err) RunBench(params string[] args) => Run(new RootCommand { SharpInfer.Cli.Commands.Bench.BenchCommand.Create() }, args);

    /// <summary>Bad input: exit code 2 and one "error: ..." line naming the problem, without a stack trace.</summary>
    public static void AssertOneLineError((int Code, string Out, string Err) r, string expectedPart)
    {
        Assert.Equal(2, r.Code);
        string err = r.Err.TrimEnd();
        Assert.DoesNotContain('\n', err);
        Assert.StartsWith("error: ", err);
        Assert.Contains(expectedPart, err);
        Assert.DoesNotContain("   at ", err);
    }
}
