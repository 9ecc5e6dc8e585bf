using System.CommandLine;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using SharpInfer.Cli.Commands;
using SharpInfer.Server;
using SharpInfer.Tests;

namespace SharpInfer.Cli.Tests;

/// <summary>`sharpinfer serve`: option checks before anything loads, and a real server that stops cleanly.</summary>
public class ServeCommandTests
{
    private static (int Code, string Out, string Err) Run(Action<WebApplication>? started, params string[] args) =>
        CliHarness.Run(new RootCommand { ServeCommand.Create(started) }, args);

    private static void AssertOneLineError((int Code, string Out, string Err) r, string expectedPart) => CliHarness.AssertOneLineError(r, expectedPart);

    [Fact]
    public void BadOptionsAndKeyFilesGiveOneLineAndExitCode2()
    {
        AssertOneLineError(Run(null, "serve", "--policy", "random"), "--policy 'random' must be one of fcfs, lpm, vtc, dlpm");
        AssertOneLineError(Run(null, "serve", "--host", "example"), "--host 'example'");
        AssertOneLineError(Run(null, "serve", "--port", "70000"), "--port 70000");
        AssertOneLineError(Run(null, "serve", "--max-queue", "-1"), "--max-queue -1");
        AssertOneLineError(Run(null, "serve", "--threads", "0"), "--threads 0");
        AssertOneLineError(Run(null, "serve", "--max-batch-tokens", "9000"), "--max-batch-tokens 9000");

        string keys = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(keys, ["# clients", "sk-1 alice", "sk-2 bob lots"]);
            AssertOneLineError(Run(null, "serve", "--api-keys", keys), $"{keys}:3: weight 'lots'");
            File.Delete(keys);
            AssertOneLineError(Run(null, "serve", "--api-keys", keys), Path.GetFileName(keys));
        }
        finally { File.Delete(keys); }
    }

    [Fact]
    public void ServeAnswersOnItsPortAndStopsWithExitCode0()
    {
        string? model = TestEnvironment.Model("stories260K.gguf");
        if (model == null) return;
        string? completion = null;
        int health = 0;
        var r = Run(app =>
        {
            // Called on the command's thread once the server listens; the command returns after the stop.
            using var http = new HttpClient { BaseAddress = SharpInferServer.ListeningAddress(app) };
            health = (int)http.GetAsync("/health").GetAwaiter().GetResult().StatusCode;
            var response = http.PostAsync("/v1/completions", new StringContent("""{"prompt":"Once upon a time","max_tokens":8,"temperature":0}""")).GetAwaiter().GetResult();
            completion = JsonDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult()).RootElement
                .GetProperty("choices")[0].GetProperty("text").GetString();
            app.Lifetime.StopApplication();
        }, "serve", "--model", model, "--port", "0", "--threads", "1", "--policy", "fcfs");
        Assert.Equal(0, r.Code);
        Assert.Equal(200, health);
        Assert.StartsWith(", there was a little girl", completion);
        Assert.Contains("serving stories260K at http://127.0.0.1:", r.Err);
    }
}
