namespace BpfTraceSim.Kernel;

/// <summary>
/// The one "did you mean" rule of every parser (scenario YAML, exec JSON, CLI values): the closest
/// known name by optimal string alignment distance, offered when it is within a third of the
/// given name's length (at least 1, at most 3 edits).
/// </summary>
public static class NameSuggest
{
    /// <summary>The closest known name within the edit limit, or null.</summary>
    public static string? Closest(string given, IEnumerable<string> known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string k in known)
        {
            int d = Distance(given, k);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = k;
            }
        }
        return best is not null && bestDistance <= Limit(given) ? best : null;
    }

    /// <summary>" (did you mean 'x'?)" with the document's quote character, or "".</summary>
    public static string DidYouMean(string given, IEnumerable<string> known, char quote = '\'') =>
        Closest(given, known) is { } best ? $" (did you mean {quote}{best}{quote}?)" : "";

    /// <summary>Edits allowed for a name of this length.</summary>
    public static int Limit(string given) => Math.Max(1, Math.Min(3, given.Length / 3));

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps.</summary>
    public static int Distance(string a, string b)
    {
        // Names are short; a name longer than this is not a typo of one.
        if (a.Length > 256 || b.Length > 256) return int.MaxValue;
        var prevPrev = new int[b.Length + 1];
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
            prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int d = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d = Math.Min(d, prevPrev[j - 2] + 1); // a transposition is one typo
                cur[j] = d;
            }
            (prevPrev, prev, cur) = (prev, cur, prevPrev);
        }
        return prev[b.Length];
    }
}
