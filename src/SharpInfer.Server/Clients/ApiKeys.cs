using System.Globalization;

namespace SharpInfer.Server.Clients;

/// <summary>The client an API key belongs to, and its share of the engine relative to other clients.</summary>
public sealed record ApiClient(string Name, double Weight = 1);

/// <summary>A line of an API keys file that cannot be read; the message is one line starting with file:line.</summary>
public sealed class ApiKeysFormatException(string message) : Exception(message);

/// <summary>
/// Reads an API keys file: one <c>&lt;key&gt; &lt;client-name&gt; [weight]</c> per line, blank lines and
/// <c>#</c> comments ignored. Several keys may name the same client (they then share its counters).
/// </summary>
public static class ApiKeysFile
{
    public static IReadOnlyDictionary<string, ApiClient> Load(string path) => Parse(File.ReadAllLines(path), path);

    public static IReadOnlyDictionary<string, ApiClient> Parse(IEnumerable<string> lines, string fileName)
    {
        var keys = new Dictionary<string, ApiClient>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (string raw in lines)
        {
            lineNumber++;
            int hash = raw.IndexOf('#');
            string line = (hash >= 0 ? raw[..hash] : raw).Trim();
            if (line.Length == 0) continue;
            string[] fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            string where = $"{fileName}:{lineNumber}";
            if (fields.Length is < 2 or > 3)
                throw new ApiKeysFormatException($"{where}: expected '<key> <client-name> [weight]', found {fields.Length} field(s)");
            double weight = 1;
            if (fields.Length == 3 && (!double.TryParse(fields[2], NumberStyles.Float, CultureInfo.InvariantCulture, out weight) || !(weight > 0) || double.IsInfinity(weight)))
                throw new ApiKeysFormatException($"{where}: weight '{fields[2]}' must be a positive number");
            if (!keys.TryAdd(fields[0], new ApiClient(fields[1], weight)))
                throw new ApiKeysFormatException($"{where}: the key of client '{fields[1]}' is already listed");
        }
        if (keys.Count == 0) throw new ApiKeysFormatException($"{fileName}: no keys (every line is blank or a comment)");
        return keys;
    }
}
