namespace SharpInfer.Models.Tokenization;

/// <summary>
/// Cuts text at spelled-out special tokens before the model's own algorithm runs, as llama.cpp's
/// tokenizer_st_partition does: user-defined tokens always, control and unknown tokens only when
/// parsing specials; longer tokens first so "&lt;|im_end|&gt;" wins over a token that is a part of it.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    /// <summary>A run of the text: plain text when TokenId is -1, otherwise one special token.</summary>
    public readonly record struct Fragment(int Start, int Length, int TokenId)
    {
        public bool IsText => TokenId < 0;
    }

    private readonly (string Text, int Id, bool AlwaysSplit)[] _candidates;

    public SpecialTokenSplitter(IReadOnlyList<string> tokens, TokenType[] types)
    {
        var candidates = new List<(string Text, int Id, bool AlwaysSplit)>();
        for (int id = 0; id < tokens.Count; id++)
        {
            TokenType type = types[id];
            if (tokens[id].Length == 0) continue;
            if (type == TokenType.UserDefined) candidates.Add((tokens[id], id, true));
            else if (type is TokenType.Control or TokenType.Unknown) candidates.Add((tokens[id], id, false));
        }
        // Longest first; the id breaks ties so the order does not depend on the sort's stability.
        candidates.Sort((a, b) => a.Text.Length != b.Text.Length ? b.Text.Length.CompareTo(a.Text.Length) : a.Id.CompareTo(b.Id));
        _candidates = candidates.ToArray();
    }

    public List<Fragment> Split(string text, bool parseSpecial)
    {
        var fragments = new List<Fragment>();
        if (text.Length > 0) fragments.Add(new Fragment(0, text.Length, -1));
        foreach (var (tokenText, id, alwaysSplit) in _candidates)
        {
            if (!alwaysSplit && !parseSpecial) continue;
            List<Fragment>? next = null;
            for (int f = 0; f < fragments.Count; f++)
            {
                Fragment fragment = fragments[f];
                int found = fragment.IsText ? text.AsSpan(fragment.Start, fragment.Length).IndexOf(tokenText, StringComparison.Ordinal) : -1;
                if (found < 0)
                {
                    next?.Add(fragment);
                    continue;
                }
                next ??= fragments.GetRange(0, f);
                int position = fragment.Start, end = fragment.Start + fragment.Length;
                while (found >= 0)
                {
                    int match = position + found;
                    if (match > position) next.Add(new Fragment(position, match - position, -1));
                    next.Add(new Fragment(match, tokenText.Length, id));
                    position = match + tokenText.Length;
                    found = text.AsSpan(position, end - position).IndexOf(tokenText, StringComparison.Ordinal);
                }
                if (position < end) next.Add(new Fragment(position, end - position, -1));
            }
            if (next != null) fragments = next;
        }
        return fragments;
    }
}
