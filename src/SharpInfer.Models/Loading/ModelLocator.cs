using System.Net;
using System.Net.Http.Headers;

namespace SharpInfer.Models.Loading;

/// <summary>
/// Turns what a user passes as --model into a local file: a path; a bare file name looked up in SHARPINFER_MODELS;
/// or hf:OWNER/REPO/PATH.gguf, found in SHARPINFER_MODELS or the download cache, else downloaded (resumable, size-checked).
/// </summary>
public sealed class ModelLocator
{
    public const string DefaultModel = "hf:ggml-org/models/tinyllamas/stories260K.gguf";
    public const string ModelsVariable = "SHARPINFER_MODELS";
    public const string CacheVariable = "SHARPINFER_CACHE";

    /// <summary>Folder searched for bare names and hf: file names (SHARPINFER_MODELS), or null.</summary>
    public string? ModelsDirectory { get; init; } = Environment.GetEnvironmentVariable(ModelsVariable) is { Length: > 0 } d ? d : null;

    /// <summary>Download cache (SHARPINFER_CACHE, else ~/.cache/sharpinfer).</summary>
    public string CacheDirectory { get; init; } = Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } c ? c
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sharpinfer");

    /// <summary>Base address of the hub that hf: references are downloaded from.</summary>
    public Uri HubAddress { get; init; } = new("https://huggingface.co/");

    /// <summary>Reports download progress: bytes so far, total bytes (null when unknown).</summary>
    public Action<long, long?>? Progress { get; init; }

    public HttpMessageHandler? Handler { get; init; }

    /// <summary>The local path of a model, downloading it if needed.</summary>
    public async Task<string> ResolveAsync(string? model, CancellationToken cancellation = default)
    {
        if (FindLocal(model) is { } local) return local;
        var (owner, repo, path) = ParseHubReference(model!);
        string reference = Normalize(model);
        string cached = CachePath(owner, repo, path);
        var address = new Uri(HubAddress, $"{owner}/{repo}/resolve/main/{path}");
        try
        {
            await DownloadAsync(address, cached, cancellation);
            return cached;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException && !cancellation.IsCancellationRequested)
        {
            throw new ModelNotFoundException(
                $"cannot download {reference} ({Reason(e)}); pass --model PATH to a local .gguf file, or set {ModelsVariable} to a folder that holds {Path.GetFileName(path)}");
        }
    }

    public string Resolve(string? model) => ResolveAsync(model).GetAwaiter().GetResult();

    /// <summary>
    /// The local path of a model without downloading: null when it is an hf: reference that is neither in
    /// SHARPINFER_MODELS nor cached. Throws <see cref="ModelNotFoundException"/> for a missing local file.
    /// </summary>
    public string? FindLocal(string? model)
    {
        model = Normalize(model);
        if (model.StartsWith("hf:", StringComparison.Ordinal))
        {
            var (owner, repo, path) = ParseHubReference(model);
            string fileName = Path.GetFileName(path);
            if (ModelsDirectory != null && File.Exists(Path.Combine(ModelsDirectory, fileName)))
                return Path.GetFullPath(Path.Combine(ModelsDirectory, fileName));
            string cached = CachePath(owner, repo, path);
            return File.Exists(cached) ? cached : null;
        }
        if (File.Exists(model)) return Path.GetFullPath(model);
        bool bareName = model.IndexOfAny(['/', '\\']) < 0;
        if (bareName && ModelsDirectory != null && File.Exists(Path.Combine(ModelsDirectory, model)))
            return Path.GetFullPath(Path.Combine(ModelsDirectory, model));
        throw new ModelNotFoundException(bareName
            ? $"model '{model}' not found: not a file here{(ModelsDirectory != null ? $" nor in {ModelsVariable}={ModelsDirectory}" : $", and {ModelsVariable} is not set")}"
            : $"model file '{model}' not found");
    }

    private static string Normalize(string? model) => string.IsNullOrWhiteSpace(model) ? DefaultModel : model.Trim();

    /// <summary>Where an hf: reference is kept in the cache.</summary>
    public string CachePath(string owner, string repo, string path) => Path.Combine(CacheDirectory, "hf", owner, repo, path.Replace('/', Path.DirectorySeparatorChar));

    private static (string Owner, string Repo, string Path) ParseHubReference(string reference)
    {
        reference = Normalize(reference);
        string[] parts = reference[3..].Split('/', 3);
        if (parts.Length < 3 || parts.Any(p => p.Length == 0) || parts[2].Split('/').Any(p => p is "" or "." or "..") || parts[0] is "." or ".." || parts[1] is "." or "..")
            throw new ModelNotFoundException($"'{reference}' is not of the form hf:OWNER/REPO/PATH.gguf");
        return (parts[0], parts[1], parts[2]);
    }

    private static string Reason(Exception e) => e switch
    {
        HttpRequestException { StatusCode: { } code } => $"HTTP {(int)code} {code}",
        HttpRequestException h => h.InnerException?.Message ?? h.Message,
        TaskCanceledException => "timed out",
        _ => e.Message,
    };

    /// <summary>Downloads to PATH.partial, resuming from its length, checks the size, then renames it into place.</summary>
    private async Task DownloadAsync(Uri address, string destination, CancellationToken cancellation)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        string partial = destination + ".partial";
        using var client = Handler != null ? new HttpClient(Handler, disposeHandler: false) : new HttpClient();
        client.Timeout = TimeSpan.FromMinutes(30);
        client.DefaultRequestHeaders.UserAgent.ParseAdd("sharpinfer/0.1");
        long existing = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, address);
        if (existing > 0) request.Headers.Range = new RangeHeaderValue(existing, null);
        using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        connect.CancelAfter(TimeSpan.FromSeconds(30));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connect.Token);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable) { existing = 0; File.Delete(partial); }
        response.EnsureSuccessStatusCode();
        bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
        if (!resumed) existing = 0;
        long? total = resumed ? response.Content.Headers.ContentRange?.Length : response.Content.Headers.ContentLength;
        await using (var output = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write))
        await using (var input = await response.Content.ReadAsStreamAsync(cancellation))
        {
            var buffer = new byte[1 << 20];
            long done = existing;
            int n;
            while ((n = await input.ReadAsync(buffer, cancellation)) > 0)
            {
                await output.WriteAsync(buffer.AsMemory(0, n), cancellation);
                done += n;
                Progress?.Invoke(done, total);
            }
        }
        long size = new FileInfo(partial).Length;
        if (total is { } expected && size != expected)
            throw new IOException($"downloaded {size} bytes but the server announced {expected}; run again to resume");
        File.Move(partial, destination, overwrite: true);
    }
}
