using System.CommandLine;
using SharpInfer.Cli;
using SharpInfer.Cli.Commands;

var root = new RootCommand("SharpInfer: run and serve LLMs in .NET (GGUF models, CPU kernels)");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(CreateModelCommand.Create());
root.Subcommands.Add(PlanCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(SharpInfer.Cli.Commands.Bench.BenchCommand.Create());
return CliRunner.Run(root, args);
