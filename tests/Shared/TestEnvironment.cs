using System.Runtime.CompilerServices;

namespace SharpInfer.Tests;

/// <summary>Set-up shared by every test assembly, and how tests find ../shared.</summary>
internal static class TestEnvironment
{
    /// <summary>xunit on 2 cores stalls the thread pool unless the minimum is raised.</summary>
    [ModuleInitializer]
    internal static void RaiseMinThreads()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
    }

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The folder with the shared models: SHARPINFER_MODELS, else ../shared/models above the repository.</summary>
    public static string? ModelsDirectory
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("SHARPINFER_MODELS");
            if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return Path.GetFullPath(env);
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "models");
                if (Directory.Exists(candidate)) return candidate;
            }
            return null;
        }
    }

    public static string? SharedDirectory => ModelsDirectory is { } m ? Path.GetDirectoryName(m) : null;

    /// <summary>
    /// Path of a shared file, or null when it is absent and we are not in CI (the test then returns early).
    /// Under CI=true a missing file is a failure, never a skip.
    /// </summary>
    public static string? SharedFile(params string[] relative)
    {
        string? root = SharedDirectory;
        string? path = root == null ? null : Path.Combine([root, .. relative]);
        if (path != null && File.Exists(path)) return path;
        if (IsCi) throw new FileNotFoundException($"shared file missing under CI: {Path.Combine(relative)} (set SHARPINFER_MODELS)");
        return null;
    }

    /// <summary>Path of a shared folder, or null when absent outside CI (as <see cref="SharedFile"/>).</summary>
    public static string? SharedFolder(params string[] relative)
    {
        string? root = SharedDirectory;
        string? path = root == null ? null : Path.Combine([root, .. relative]);
        if (path != null && Directory.Exists(path)) return path;
        if (IsCi) throw new DirectoryNotFoundException($"shared folder missing under CI: {Path.Combine(relative)} (set SHARPINFER_MODELS)");
        return null;
    }

    public static string? Model(string fileName) => SharedFile("models", fileName);

    /// <summary>
    /// Full path of a program on PATH (such as node, npm or curl), or null when it is absent and we are not in
    /// CI (the test then returns early). Under CI=true a missing program is a failure, never a skip.
    /// </summary>
    public static string? Program(string name)
    {
        string[] suffixes = OperatingSystem.IsWindows() ? [".exe", ".cmd", ""] : [""];
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (string suffix in suffixes)
            {
                string candidate = Path.Combine(dir, name + suffix);
                if (File.Exists(candidate)) return candidate;
            }
        if (IsCi) throw new FileNotFoundException($"program missing under CI: '{name}' is not on PATH (.ci/run installs it with apt-get)");
        return null;
    }
}
