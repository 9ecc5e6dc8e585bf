namespace SharpInfer.Kernels.Definitions;

/// <summary>Loads definition files (<c>definitions/&lt;op_type&gt;/&lt;name&gt;.json</c>).</summary>
public static class DefinitionLoader
{
    /// <summary>One file; a bad file throws <see cref="DefinitionFormatException"/> with a one-line message naming the file and JSON path.</summary>
    public static Definition Load(string path) => TraceJson.ReadDefinition(File.ReadAllText(path), path);

    /// <summary>Every *.json under <paramref name="directory"/> (recursively), sorted by name; names must be unique.</summary>
    public static IReadOnlyList<Definition> LoadDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"definitions folder not found: {directory}");
        var definitions = new List<Definition>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(directory, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var d = Load(file);
            if (seen.TryGetValue(d.Name, out string? first)) throw new DefinitionFormatException($"{file}: $.name: '{d.Name}' already defined in {first}");
            seen[d.Name] = file;
            definitions.Add(d);
        }
        definitions.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return definitions;
    }

    /// <summary>Writes <c>&lt;root&gt;/&lt;op_type&gt;/&lt;name&gt;.json</c> and returns its path.</summary>
    public static string Save(Definition definition, string root)
    {
        string dir = Path.Combine(root, definition.OpType);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, definition.Name + ".json");
        File.WriteAllText(path, TraceJson.Write(definition) + "\n");
        return path;
    }
}
