namespace SharpInfer.Server.Clients;

/// <summary>
/// Turns the `user` strings of requests without an API key into engine client ids. The first
/// <c>capacity</c> distinct users keep their own id; every later newcomer shares <see cref="Overflow"/>, so a
/// caller inventing a new `user` per request cannot grow the engine's per-client state, the fair schedulers'
/// service table or the /metrics label set without bound.
/// </summary>
internal sealed class UserClientNames(int capacity)
{
    /// <summary>The client id of users beyond the capacity, also the /metrics label of clients beyond its cap.</summary>
    public const string Overflow = "other";

    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public string Resolve(string user)
    {
        lock (_known)
        {
            if (_known.Contains(user) || (_known.Count < capacity && _known.Add(user))) return user;
        }
        return Overflow;
    }
}
