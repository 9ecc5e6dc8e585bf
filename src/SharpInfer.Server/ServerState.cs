namespace SharpInfer.Server;

/// <summary>What the server is doing as a whole: when it started, and whether it is draining for shutdown.</summary>
internal sealed class ServerState
{
    private volatile bool _draining;

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public bool Draining => _draining;
    public void BeginDraining() => _draining = true;
}
