using System.Text;

namespace SharpInfer.Engine.Generation;

/// <summary>
/// Holds back streamed text that could still turn into a stop string, and cuts the text where a stop string begins.
/// </summary>
internal sealed class StopMatcher(IReadOnlyList<string> stops)
{
    private readonly string[] _stops = stops.Where(s => s.Length > 0).ToArray();
    private readonly StringBuilder _pending = new();

    /// <summary>Adds new text; returns what can be emitted now. <paramref name="stopped"/> when a stop string was found.</summary>
    public string Append(string text, out bool stopped)
    {
        stopped = false;
        if (_stops.Length == 0) return text;
        _pending.Append(text);
        string pending = _pending.ToString();
        int cut = -1;
        foreach (string s in _stops)
        {
            int i = pending.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        if (cut >= 0)
        {
            stopped = true;
            _pending.Clear();
            return pending[..cut];
        }
        // Keep the longest tail that is a prefix of some stop string.
        int keep = 0;
        foreach (string s in _stops)
            for (int len = Math.Min(s.Length - 1, pending.Length); len > keep; len--)
                if (pending.AsSpan(pending.Length - len).SequenceEqual(s.AsSpan(0, len))) { keep = len; break; }
        _pending.Clear().Append(pending, pending.Length - keep, keep);
        return pending[..^keep];
    }

    public string Flush()
    {
        string rest = _pending.ToString();
        _pending.Clear();
        return rest;
    }
}
