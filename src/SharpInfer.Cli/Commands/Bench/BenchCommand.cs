using System.CommandLine;
using SharpInfer.Cli.Commands;

namespace SharpInfer.Cli.Commands.Bench;

/// <summary>`sharpinfer bench ...`: the benchmarks any user can run.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks: kernels against their references and the memory bandwidth, decode throughput by batch size, serving policies");
        bench.Subcommands.Add(BenchDecodeCommand.Create());
        bench.Subcommands.Add(BenchKernelsCommand.Create());
        bench.Subcommands.Add(BenchAttentionCommand.Create());
        bench.Subcommands.Add(BenchEngineCommand.Create());
        bench.Subcommands.Add(BenchServeCommand.Create());
        return bench;
    }
}
