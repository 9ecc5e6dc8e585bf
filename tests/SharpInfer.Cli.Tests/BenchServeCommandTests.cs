using System.Text.Json;
using SharpInfer.Tests;

namespace SharpInfer.Cli.Tests;

/// <summary>`sharpinfer bench serve` against real in-process servers on stories260K, kept to a few seconds each.</summary>
public class BenchServeCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliHarness.RunBench(args);

    [Fact]
    public void BadOptionsGiveOneLineAndExitCode2()
    {
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["--policies", "fcfs,random"], "--policies: 'random'"),
            (["--workload", "poetry"], "--workload 'poetry'"),
            (["--rate", "0"], "--rate 0"),
            (["--clients", "2,x"], "--clients '2,x'"),
            (["--simulate", "--load-test"], "--simulate and --load-test"),
            (["--simulate", "--cost", "1,2"], "--cost '1,2'"),
            (["--url", "ftp://x", "--duration", "1"], "--url 'ftp://x'"),
            (["--load-test", "--drain-timeout", "0"], "--drain-timeout 0"),
        })
        {
            var r = Run(["bench", "serve", .. args]);
            Assert.Equal(2, r.Code);
            string err = r.Err.TrimEnd();
            Assert.DoesNotContain('\n', err);
            Assert.StartsWith("error: ", err);
            Assert.Contains(expected, err);
        }
    }

    [Theory]
    [InlineData("--load-test")]
    [InlineData("--policies=fcfs")]
    public void AUrlWithNoServerGivesOneLineAndExitCode2(string mode)
    {
        // A port that was free a moment ago: nothing listens there.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var r = Run("bench", "serve", "--url", $"http://127.0.0.1:{port}", mode, "--clients", "1", "--duration", "1");
        Assert.Equal(2, r.Code);
        string err = r.Err.TrimEnd();
        Assert.DoesNotContain('\n', err);
        Assert.StartsWith("error: ", err);
        Assert.Contains($"127.0.0.1:{port}/metrics", err);
    }

    [Fact]
    public void LiveRunOfTwoPoliciesWritesTheReportAndCharts()
    {
        string? model = TestEnvironment.Model("stories260K.gguf");
        if (model == null) return;
        string dir = Directory.CreateTempSubdirectory("bench-serve-").FullName;
        try
        {
            string json = Path.Combine(dir, "report.json"), plots = Path.Combine(dir, "plots");
            var r = Run("bench", "serve", "--model", model, "--policies", "lpm,dlpm", "--workload", "mixed", "--clients", "2", "--flood-client",
                "--rate", "3", "--duration", "3", "--prompt-tokens", "128", "--output-tokens", "8", "--json", json, "--plots", plots);
            Assert.True(r.Code == 0, r.Err + r.Out);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var policies = doc.RootElement.GetProperty("runs")[0].GetProperty("policies");
            Assert.Equal(["lpm", "dlpm"], policies.EnumerateArray().Select(p => p.GetProperty("policy").GetString()));
            foreach (var p in policies.EnumerateArray())
            {
                foreach (var field in new[] { "tokensPerSecond", "requestsPerSecond", "jain", "maxServiceDifference", "bound", "unit", "prefixCacheHitRate" })
                    Assert.True(p.GetProperty(field).GetDouble() >= 0, field);
                Assert.True(p.GetProperty("requestsPerSecond").GetDouble() > 0);
                var clients = p.GetProperty("clients").EnumerateArray().ToList();
                Assert.Equal(["client0", "client1", "flood"], clients.Select(c => c.GetProperty("client").GetString()));
                Assert.All(clients, c => Assert.True(c.GetProperty("ttftP99").GetDouble() >= c.GetProperty("ttftP50").GetDouble()));
                var timeline = p.GetProperty("timeline");
                Assert.True(timeline.GetProperty("times").GetArrayLength() >= 10); // sampled every 100 ms for 3 s
                Assert.Equal(3, timeline.GetProperty("service").EnumerateObject().Count());
            }
            foreach (var name in new[] { "service-lpm.png", "service-dlpm.png", "service-difference.png", "ttft-p99.png", "ttft-p50.png", "throughput.png" })
            {
                var file = new FileInfo(Path.Combine(plots, name));
                Assert.True(file.Exists && file.Length > 5000, name);
            }
            Assert.Contains("dlpm", r.Out);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LoadTestOfTwentyClientsHasNoFailuresAndGivesEveryPageBack()
    {
        string? model = TestEnvironment.Model("stories260K.gguf");
        if (model == null) return;
        string json = Path.GetTempFileName();
        try
        {
            // A queue of 8 makes some of the 20 clients get 429s, which they must retry rather than count as failures.
            var r = Run("bench", "serve", "--load-test", "--model", model, "--clients", "20", "--duration", "4", "--max-queue", "8",
                "--prompt-tokens", "48", "--output-tokens", "8", "--drain-timeout", "60", "--json", json);
            Assert.True(r.Code == 0, r.Err + r.Out);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var result = doc.RootElement.GetProperty("result");
            Assert.Equal(0, result.GetProperty("failed").GetInt32());
            Assert.Equal(0, result.GetProperty("kvPagesUsedAtEnd").GetInt32());
            Assert.True(result.GetProperty("completed").GetInt32() > 20);
            Assert.True(result.GetProperty("peakMemory").GetProperty("workingSet").GetInt64() > 0);
            Assert.True(doc.RootElement.GetProperty("passed").GetBoolean());
        }
        finally { File.Delete(json); }
    }
}
