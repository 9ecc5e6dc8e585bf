using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SharpInfer.Engine.Serving;

namespace SharpInfer.Server;

/// <summary>
/// On shutdown (SIGTERM, Ctrl+C, StopAsync), before Kestrel closes its listeners: refuse new generations and report
/// unhealthy so a load balancer moves on, then let the engine finish what it runs, up to the drain timeout.
/// </summary>
internal sealed class DrainOnShutdown(IServingEngine engine, ServerState state, ServerOptions options, ILogger<DrainOnShutdown> log) : IHostedLifecycleService
{
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        state.BeginDraining();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.DrainTimeout);
        try
        {
            await engine.DrainAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            log.LogWarning("requests still running after the drain timeout of {Seconds} s; stopping anyway", options.DrainTimeout.TotalSeconds);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
