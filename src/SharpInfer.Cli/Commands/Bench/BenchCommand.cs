using System.CommandLine;

namespace SharpInfer.Cli.Commands.Bench;

/// <summary>`sharpinfer bench ...`: the benchmarks any user can run.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks: decode throughput by batch size (more with the kernels work)");
        bench.Subcommands.Add(BenchDecodeCommand.Create());
        return bench;
    }
}
