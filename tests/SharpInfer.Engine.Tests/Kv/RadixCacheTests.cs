using SharpInfer.Engine.Kv;

namespace SharpInfer.Engine.Tests.Kv;

public class RadixCacheTests
{
    private const int PageSize = 4;

    private static (RadixCache Cache, PageAllocator Allocator) NewCache(int pages = 64)
    {
        var allocator = new PageAllocator(pages);
        return (new RadixCache(allocator, PageSize), allocator);
    }

    /// <summary>Caches the tokens as a request would: match, allocate the rest, insert. Returns the request's pages.</summary>
    private static List<int> Cache(RadixCache cache, int[] tokens)
    {
        var pages = new List<int>();
        cache.Match(tokens, pages);
        Assert.True(cache.Allocator.TryAllocate(cache.PagesFor(tokens.Length) - pages.Count, pages));
        cache.Insert(tokens, pages);
        int aligned = tokens.Length / PageSize;
        cache.Allocator.Free(pages.Skip(aligned).ToArray()); // the partial last page stays with the request
        return pages.Take(aligned).ToList();
    }

    private static int[] Seq(int start, int count) => Enumerable.Range(start, count).ToArray();

    [Fact]
    public void MatchFindsTheLongestPageAlignedPrefixAndItsPages()
    {
        var (cache, _) = NewCache();
        var pages = Cache(cache, Seq(0, 12));
        var found = new List<int>();
        var match = cache.Match([.. Seq(0, 10), 99, 98], found);
        Assert.Equal(8, match.Length); // tokens 8..9 match too, but not a whole page
        Assert.Equal(pages.Take(2), found);
        Assert.Equal(8, cache.MatchLength([.. Seq(0, 9)]));
        Assert.Equal(0, cache.MatchLength(Seq(0, 3)));
        Assert.Equal(0, cache.MatchLength([1, 1, 2, 3, 4, 5, 6, 7]));
        cache.CheckInvariants([]);
    }

    [Fact]
    public void APartialMatchSplitsTheNodeAndMatchLengthDoesNot()
    {
        var (cache, _) = NewCache();
        Cache(cache, Seq(0, 16));
        Assert.Equal(1, cache.NodeCount);
        Assert.Equal(8, cache.MatchLength([.. Seq(0, 8), 50, 51, 52, 53]));
        Assert.Equal(1, cache.NodeCount);
        cache.Match([.. Seq(0, 8), 50, 51, 52, 53], []);
        Assert.Equal(2, cache.NodeCount);
        Assert.Equal(16, cache.MatchLength(Seq(0, 16)));
        cache.CheckInvariants([]);
    }

    [Fact]
    public void InsertFreesDuplicatePagesButNotPagesTheRequestMatched()
    {
        var (cache, allocator) = NewCache(16);
        var first = Cache(cache, Seq(0, 8));
        // A request that computed the same 8 tokens in its own pages (it ran before the first was cached).
        var duplicate = new List<int>();
        allocator.TryAllocate(3, duplicate);
        int free = allocator.FreePages;
        Assert.Equal(8, cache.Insert([.. Seq(0, 8), 70, 71, 72, 73], duplicate));
        Assert.Equal(free + 2, allocator.FreePages); // its two prefix pages were duplicates
        Assert.True(allocator.IsFree(duplicate[0]) && allocator.IsFree(duplicate[1]) && !allocator.IsFree(duplicate[2]));
        // A request that matched the cached pages and inserts them back frees nothing.
        var matched = new List<int>();
        cache.Match(Seq(0, 8), matched);
        Assert.Equal(first, matched);
        free = allocator.FreePages;
        Assert.Equal(8, cache.Insert(Seq(0, 8), matched));
        Assert.Equal(free, allocator.FreePages);
        cache.CheckInvariants([]);
    }

    [Fact]
    public void InsertReturnsTheTokensAlreadyPresentAndIgnoresThePartialPage()
    {
        var (cache, allocator) = NewCache();
        var pages = new List<int>();
        allocator.TryAllocate(3, pages);
        Assert.Equal(0, cache.Insert(Seq(0, 10), pages));
        Assert.Equal(2, cache.CachedPages);
        Assert.False(allocator.IsFree(pages[2])); // still the caller's
        cache.CheckInvariants([pages[2]]);
    }

    [Fact]
    public void LockedPathsSurviveEvictionAndLaterSplits()
    {
        var (cache, _) = NewCache();
        Cache(cache, Seq(0, 16));
        var match = cache.Match(Seq(0, 16), []);
        cache.Lock(match);
        Assert.Equal(4, cache.LockedPages);
        cache.Match([.. Seq(0, 8), 60, 61, 62, 63], []); // splits the locked node
        Assert.Equal(4, cache.LockedPages);
        Assert.Equal(0, cache.EvictablePages);
        Assert.Equal(0, cache.Evict(10));
        cache.CheckInvariants([]);
        cache.Unlock(match);
        Assert.Equal(0, cache.LockedPages);
        Assert.Equal(4, cache.Evict(10));
        Assert.Equal(0, cache.CachedPages);
        Assert.Throws<InvalidOperationException>(() => cache.Unlock(match));
        cache.CheckInvariants([]);
    }

    [Fact]
    public void ALockTakenAfterASplitCoversBothHalves()
    {
        var (cache, _) = NewCache();
        Cache(cache, Seq(0, 16));
        var prefix = cache.Match(Seq(0, 8), []); // splits: [0,8) and [8,16)
        cache.Lock(prefix);
        Assert.Equal(2, cache.LockedPages);
        Assert.Equal(2, cache.Evict(10)); // only the unlocked tail goes
        Assert.Equal(8, cache.MatchLength(Seq(0, 16)));
        cache.Unlock(prefix);
        cache.CheckInvariants([]);
    }

    [Fact]
    public void EvictTakesLeastRecentlyUsedLeavesFirstAndWalksUp()
    {
        var (cache, _) = NewCache();
        Cache(cache, Seq(0, 8));
        Cache(cache, Seq(100, 8));
        Cache(cache, [.. Seq(0, 8), .. Seq(200, 4)]); // child of the first
        cache.Match(Seq(100, 8), []); // the second is now the most recent
        Assert.Equal(1, cache.Evict(1)); // leaves: [200..] (used third) and [100..] (just used): the first goes
        Assert.Equal(8, cache.MatchLength([.. Seq(0, 8), .. Seq(200, 4)]));
        Assert.Equal(8, cache.MatchLength(Seq(100, 8)));
        Assert.Equal(2, cache.Evict(2)); // then its parent, which became a leaf: all of [0..8)
        Assert.Equal(0, cache.MatchLength(Seq(0, 8)));
        Assert.Equal(8, cache.MatchLength(Seq(100, 8)));
        cache.CheckInvariants([]);
    }

    [Fact]
    public void EvictTrimsALeafFromItsTailRatherThanFreeingMoreThanAsked()
    {
        var (cache, _) = NewCache();
        Cache(cache, Seq(0, 16));
        Assert.Equal(1, cache.Evict(1));
        Assert.Equal(12, cache.MatchLength(Seq(0, 16)));
        Assert.Equal(3, cache.CachedPages);
        cache.CheckInvariants([]);
    }

    [Fact]
    public void AStaleMatchCannotBeLockedAfterItsPagesWereEvicted()
    {
        var (cache, _) = NewCache();
        Cache(cache, Seq(0, 8));
        var match = cache.Match(Seq(0, 8), []);
        cache.Evict(10);
        Assert.Throws<InvalidOperationException>(() => cache.Lock(match));
    }

    /// <summary>
    /// Thousands of random matches, locks, inserts and evictions over a small alphabet (so prefixes collide and nodes
    /// split), checked against a naive model: a map from every cached page-aligned prefix to its page.
    /// </summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    public void MatchesANaiveModelUnderRandomOperations(int seed, int pageSize)
    {
        var random = new Random(seed);
        var allocator = new PageAllocator(48);
        var cache = new RadixCache(allocator, pageSize);
        var model = new Dictionary<string, int>(); // prefix (as text) -> page holding its last page of tokens
        var lockCounts = new Dictionary<string, int>();
        var held = new List<(PrefixMatch Match, List<string> Prefixes)>();
        static string Key(ReadOnlySpan<int> tokens) => string.Join(',', tokens.ToArray());

        int[] RandomTokens() => Enumerable.Range(0, random.Next(1, 7 * pageSize)).Select(_ => random.Next(3)).ToArray();

        (int Length, List<int> Pages, List<string> Prefixes) ModelMatch(int[] tokens)
        {
            var pages = new List<int>();
            var prefixes = new List<string>();
            for (int end = pageSize; end <= tokens.Length; end += pageSize)
            {
                string key = Key(tokens.AsSpan(0, end));
                if (!model.TryGetValue(key, out int page)) break;
                pages.Add(page);
                prefixes.Add(key);
            }
            return (pages.Count * pageSize, pages, prefixes);
        }

        for (int op = 0; op < 4000; op++)
        {
            int kind = random.Next(10);
            if (kind < 4)
            {
                // A request: match (locking it for a while), allocate the rest, compute, insert.
                var tokens = RandomTokens();
                var expected = ModelMatch(tokens);
                Assert.Equal(expected.Length, cache.MatchLength(tokens));
                var pages = new List<int>();
                var match = cache.Match(tokens, pages);
                Assert.Equal(expected.Length, match.Length);
                Assert.Equal(expected.Pages, pages);
                int needed = cache.PagesFor(tokens.Length) - pages.Count;
                if (allocator.FreePages < needed) cache.Evict(needed - allocator.FreePages);
                // Evicting may have taken the match's own pages (it was not locked): start over like an engine would.
                if (cache.MatchLength(tokens) < match.Length || !allocator.TryAllocate(needed, pages))
                {
                    foreach (var key in model.Keys.ToList())
                        if (cache.MatchLength(key.Split(',').Select(int.Parse).ToArray()) < key.Split(',').Length) model.Remove(key);
                    continue;
                }
                foreach (var key in model.Keys.ToList()) // evictions shrink the model the same way
                    if (cache.MatchLength(key.Split(',').Select(int.Parse).ToArray()) < key.Split(',').Length) model.Remove(key);
                int present = cache.Insert(tokens, pages);
                int aligned = tokens.Length / pageSize;
                int modelPresent = 0;
                for (int i = 0; i < aligned; i++)
                {
                    string key = Key(tokens.AsSpan(0, (i + 1) * pageSize));
                    if (model.TryGetValue(key, out int page))
                    {
                        modelPresent = (i + 1) * pageSize;
                        Assert.Equal(page != pages[i], allocator.IsFree(pages[i])); // a duplicate went back, a shared one did not
                    }
                    else model[key] = pages[i];
                }
                Assert.Equal(modelPresent, present);
                allocator.Free(pages.Skip(aligned).ToArray());
            }
            else if (kind < 6)
            {
                var tokens = RandomTokens();
                var match = cache.Match(tokens, []);
                var expected = ModelMatch(tokens);
                Assert.Equal(expected.Length, match.Length);
                cache.Lock(match);
                foreach (var key in expected.Prefixes) lockCounts[key] = lockCounts.GetValueOrDefault(key) + 1;
                held.Add((match, expected.Prefixes));
            }
            else if (kind < 8 && held.Count > 0)
            {
                int i = random.Next(held.Count);
                cache.Unlock(held[i].Match);
                foreach (var key in held[i].Prefixes) lockCounts[key]--;
                held.RemoveAt(i);
            }
            else
            {
                int ask = random.Next(1, 10);
                int evictable = model.Keys.Count(k => lockCounts.GetValueOrDefault(k) == 0);
                Assert.Equal(evictable, cache.EvictablePages);
                int freed = cache.Evict(ask);
                Assert.Equal(Math.Min(ask, evictable), freed);
                var gone = model.Keys.Where(k => cache.MatchLength(k.Split(',').Select(int.Parse).ToArray()) < k.Split(',').Length).ToList();
                Assert.Equal(freed, gone.Count);
                foreach (var key in gone)
                {
                    Assert.Equal(0, lockCounts.GetValueOrDefault(key)); // locked pages are never evicted
                    Assert.True(allocator.IsFree(model[key]));
                    model.Remove(key);
                }
            }
            Assert.Equal(model.Count, cache.CachedPages);
            Assert.Equal(model.Keys.Count(k => lockCounts.GetValueOrDefault(k) > 0), cache.LockedPages);
            cache.CheckInvariants([]);
        }
        Assert.True(model.Count > 0);
    }
}
