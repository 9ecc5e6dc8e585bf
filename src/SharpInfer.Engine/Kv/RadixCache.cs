using System.Runtime.InteropServices;

namespace SharpInfer.Engine.Kv;

/// <summary>
/// The result of <see cref="RadixCache.Match"/>: how many tokens were found and where the matched path ends. Lock it
/// (<see cref="RadixCache.Lock"/>) to keep its pages from eviction while a request uses them; an unlocked match is
/// only valid until the next <see cref="RadixCache.Evict"/>.
/// </summary>
public readonly struct PrefixMatch
{
    internal PrefixMatch(RadixNode? lastNode, int length)
    {
        LastNode = lastNode;
        Length = length;
    }

    /// <summary>The node the matched path ends at (the root for an empty match).</summary>
    internal RadixNode? LastNode { get; }
    /// <summary>Matched tokens, a multiple of the page size.</summary>
    public int Length { get; }
    public bool IsEmpty => Length == 0;
}

/// <summary>A run of page-aligned tokens and the KV pages holding them.</summary>
internal sealed class RadixNode
{
    /// <summary>Tokens of this edge; its length is a multiple of the page size and equals Pages.Length * pageSize.</summary>
    public int[] Key = [];
    public int[] Pages = [];
    public RadixNode? Parent;
    /// <summary>Keyed by each child's first page of tokens (the comparer looks only at that page).</summary>
    public Dictionary<int[], RadixNode>? Children;
    /// <summary>Locks on paths through this node; a node with locks is never evicted.</summary>
    public int LockCount;
    public long LastAccess;
    /// <summary>False once evicted, so a stale match cannot lock pages that went back to the free list.</summary>
    public bool Attached = true;

    public bool IsLeaf => Children is null || Children.Count == 0;
}

/// <summary>
/// A prefix cache of KV pages keyed by token sequences (a radix tree with page-aligned edges, as in SGLang): requests
/// that share a prompt prefix share its pages. Pages in the tree are owned by the tree; <see cref="Evict"/> returns
/// unlocked ones to the <see cref="PageAllocator"/> in least-recently-used order. Not thread-safe: the engine's loop
/// thread owns it.
/// </summary>
public sealed class RadixCache
{
    private readonly RadixNode _root = new();
    private readonly FirstPageComparer _comparer;
    private readonly PriorityQueue<RadixNode, long> _evictionHeap = new();
    private readonly Stack<RadixNode> _walk = new();
    private long _clock;

    public RadixCache(PageAllocator allocator, int pageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        Allocator = allocator;
        PageSize = pageSize;
        _comparer = new FirstPageComparer(pageSize);
    }

    public PageAllocator Allocator { get; }
    public int PageSize { get; }
    /// <summary>Pages held by the tree.</summary>
    public int CachedPages { get; private set; }
    /// <summary>Pages on a path some request has locked.</summary>
    public int LockedPages { get; private set; }
    /// <summary>Pages <see cref="Evict"/> could free now.</summary>
    public int EvictablePages => CachedPages - LockedPages;
    public int NodeCount { get; private set; }

    /// <summary>Pages needed to hold <paramref name="tokens"/> tokens.</summary>
    public int PagesFor(int tokens) => (tokens + PageSize - 1) / PageSize;

    /// <summary>
    /// Finds the longest cached page-aligned prefix of <paramref name="tokens"/>, appends its page ids to
    /// <paramref name="pages"/> (page i holds tokens [i*PageSize, (i+1)*PageSize)) and marks the path recently used.
    /// A match ending inside an edge splits it, so the match always ends at a node boundary (and can be locked).
    /// </summary>
    public PrefixMatch Match(ReadOnlySpan<int> tokens, List<int> pages)
    {
        int aligned = tokens.Length / PageSize * PageSize;
        long now = ++_clock;
        var node = _root;
        int position = 0;
        while (position < aligned && TryGetChild(node, tokens.Slice(position, PageSize), out var child))
        {
            int common = CommonPages(tokens[position..aligned], child.Key) * PageSize;
            child.LastAccess = now;
            bool partial = common < child.Key.Length;
            if (partial) child = Split(child, common / PageSize);
            pages.AddRange(child.Pages);
            position += common;
            node = child;
            if (partial) break;
        }
        return new PrefixMatch(node, position);
    }

    /// <summary>The length <see cref="Match"/> would return, without splitting nodes or touching LRU times.</summary>
    public int MatchLength(ReadOnlySpan<int> tokens)
    {
        int aligned = tokens.Length / PageSize * PageSize;
        var node = _root;
        int position = 0;
        while (position < aligned && TryGetChild(node, tokens.Slice(position, PageSize), out var child))
        {
            int common = CommonPages(tokens[position..aligned], child.Key) * PageSize;
            position += common;
            if (common < child.Key.Length) break;
            node = child;
        }
        return position;
    }

    /// <summary>Protects the matched path (and its ancestors) from eviction until <see cref="Unlock"/>.</summary>
    public void Lock(PrefixMatch match)
    {
        var node = match.LastNode;
        if (node is not null && !node.Attached) throw new InvalidOperationException("the matched prefix was evicted before it was locked; match again");
        for (; node is not null && node != _root; node = node.Parent)
        {
            if (node.LockCount++ == 0) LockedPages += node.Pages.Length;
        }
    }

    public void Unlock(PrefixMatch match)
    {
        for (var node = match.LastNode; node is not null && node != _root; node = node.Parent)
        {
            if (node.LockCount == 0) throw new InvalidOperationException("unlocking a prefix that is not locked");
            if (--node.LockCount == 0) LockedPages -= node.Pages.Length;
        }
    }

    /// <summary>
    /// Caches the page-aligned prefix of <paramref name="tokens"/> (its length rounded down to whole pages) held in
    /// <paramref name="pages"/>. The cache takes ownership of those pages; pages past the aligned prefix (a partly
    /// filled last page) stay with the caller. Where the tree already holds a prefix page with a different id, the
    /// passed page is a duplicate and goes back to the allocator; where it holds the same id (the caller had matched
    /// it), nothing changes. Returns how many tokens were already cached.
    /// </summary>
    public int Insert(ReadOnlySpan<int> tokens, IReadOnlyList<int> pages)
    {
        int aligned = tokens.Length / PageSize * PageSize;
        if (pages.Count < aligned / PageSize) throw new ArgumentException($"{aligned / PageSize} pages are needed to cache {aligned} tokens, got {pages.Count}", nameof(pages));
        long now = ++_clock;
        var node = _root;
        int position = 0;
        while (position < aligned)
        {
            if (!TryGetChild(node, tokens.Slice(position, PageSize), out var child))
            {
                int firstPage = position / PageSize, count = aligned / PageSize - firstPage;
                var leaf = new RadixNode { Key = tokens[position..aligned].ToArray(), Pages = new int[count], Parent = node, LastAccess = now };
                for (int i = 0; i < count; i++) leaf.Pages[i] = pages[firstPage + i];
                (node.Children ??= new Dictionary<int[], RadixNode>(_comparer)).Add(leaf.Key, leaf);
                CachedPages += count;
                NodeCount++;
                return position;
            }
            int commonPages = CommonPages(tokens[position..aligned], child.Key);
            child.LastAccess = now;
            int first = position / PageSize;
            for (int i = 0; i < commonPages; i++)
            {
                if (child.Pages[i] != pages[first + i]) Allocator.Free(pages[first + i]);
            }
            position += commonPages * PageSize;
            if (commonPages * PageSize < child.Key.Length)
            {
                if (position == aligned) break; // ends inside this edge: nothing new to attach, no split needed
                child = Split(child, commonPages);
            }
            node = child;
        }
        return position;
    }

    /// <summary>
    /// Frees up to <paramref name="pages"/> pages from unlocked leaves, least recently used first; a parent whose last
    /// child goes becomes a leaf and a candidate itself. The last leaf may be trimmed from its tail rather than dropped
    /// whole, so no more than asked is freed. Returns the pages freed.
    /// </summary>
    public int Evict(int pages)
    {
        if (pages <= 0 || EvictablePages == 0) return 0;
        _evictionHeap.Clear();
        _walk.Clear();
        _walk.Push(_root);
        while (_walk.TryPop(out var node))
        {
            if (node.IsLeaf)
            {
                if (node != _root && node.LockCount == 0) _evictionHeap.Enqueue(node, node.LastAccess);
                continue;
            }
            foreach (var child in node.Children!.Values) _walk.Push(child);
        }
        int freed = 0;
        while (freed < pages && _evictionHeap.TryDequeue(out var leaf, out _))
        {
            int take = Math.Min(leaf.Pages.Length, pages - freed);
            var parent = leaf.Parent!;
            if (take < leaf.Pages.Length)
            {
                int keep = leaf.Pages.Length - take;
                Allocator.Free(leaf.Pages.AsSpan(keep));
                parent.Children!.Remove(leaf.Key);
                leaf.Pages = leaf.Pages[..keep];
                leaf.Key = leaf.Key[..(keep * PageSize)];
                parent.Children.Add(leaf.Key, leaf);
            }
            else
            {
                Allocator.Free(leaf.Pages);
                parent.Children!.Remove(leaf.Key);
                leaf.Parent = null;
                leaf.Attached = false;
                NodeCount--;
                if (parent != _root && parent.IsLeaf && parent.LockCount == 0) _evictionHeap.Enqueue(parent, parent.LastAccess);
            }
            CachedPages -= take;
            freed += take;
        }
        _evictionHeap.Clear();
        return freed;
    }

    /// <summary>
    /// Checks the tree's structure and that every page has exactly one owner. With <paramref name="pagesHeldElsewhere"/>
    /// (the pages running requests own), the tree, the free list and those pages must account for every page.
    /// Throws <see cref="InvalidOperationException"/> describing the first violation. For tests and debugging.
    /// </summary>
    public void CheckInvariants(IEnumerable<int>? pagesHeldElsewhere = null)
    {
        var owned = new bool[Allocator.TotalPages];
        int cached = 0, locked = 0, nodes = 0;
        _walk.Clear();
        _walk.Push(_root);
        while (_walk.TryPop(out var node))
        {
            if (node != _root)
            {
                nodes++;
                if (node.Pages.Length == 0 || node.Key.Length != node.Pages.Length * PageSize)
                    throw new InvalidOperationException($"a node holds {node.Key.Length} tokens in {node.Pages.Length} pages");
                if (!node.Attached || node.Parent is null) throw new InvalidOperationException("a detached node is still in the tree");
                if (!TryGetChild(node.Parent, node.Key.AsSpan(0, PageSize), out var found) || found != node)
                    throw new InvalidOperationException("a node is not reachable from its parent by its first page");
                if (node.LockCount < 0) throw new InvalidOperationException("negative lock count");
                foreach (int page in node.Pages) Claim(owned, page, "the tree");
                cached += node.Pages.Length;
                if (node.LockCount > 0) locked += node.Pages.Length;
            }
            if (node.Children is null) continue;
            long childLocks = 0;
            foreach (var child in node.Children.Values)
            {
                if (child.Parent != node) throw new InvalidOperationException("a child's parent pointer is wrong");
                childLocks += child.LockCount;
                _walk.Push(child);
            }
            if (node != _root && childLocks > node.LockCount)
                throw new InvalidOperationException($"children hold {childLocks} locks but their parent only {node.LockCount}");
        }
        if (cached != CachedPages) throw new InvalidOperationException($"CachedPages is {CachedPages} but the tree holds {cached}");
        if (locked != LockedPages) throw new InvalidOperationException($"LockedPages is {LockedPages} but {locked} pages are locked");
        if (nodes != NodeCount) throw new InvalidOperationException($"NodeCount is {NodeCount} but the tree has {nodes}");
        if (pagesHeldElsewhere is null) return;
        int held = 0;
        foreach (int page in pagesHeldElsewhere)
        {
            Claim(owned, page, "a request");
            held++;
        }
        if (cached + held + Allocator.FreePages != Allocator.TotalPages)
            throw new InvalidOperationException($"{Allocator.TotalPages - cached - held - Allocator.FreePages} pages have no owner (tree {cached}, requests {held}, free {Allocator.FreePages})");
    }

    private void Claim(bool[] owned, int page, string owner)
    {
        if ((uint)page >= (uint)owned.Length) throw new InvalidOperationException($"{owner} holds page {page}, outside the allocator");
        if (Allocator.IsFree(page)) throw new InvalidOperationException($"{owner} holds page {page}, which is also on the free list");
        if (owned[page]) throw new InvalidOperationException($"page {page} has two owners (one is {owner})");
        owned[page] = true;
    }

    private static bool TryGetChild(RadixNode node, ReadOnlySpan<int> firstPage, out RadixNode child)
    {
        if (node.Children is null) { child = null!; return false; }
        return node.Children.GetAlternateLookup<ReadOnlySpan<int>>().TryGetValue(firstPage, out child!);
    }

    /// <summary>Whole pages two token runs share from the start.</summary>
    private int CommonPages(ReadOnlySpan<int> tokens, int[] key) => tokens.CommonPrefixLength(key) / PageSize;

    /// <summary>
    /// Cuts <paramref name="node"/> after <paramref name="pages"/> pages: a new parent takes the front, the node keeps
    /// the tail (so matches that end at the node still end there). Both halves inherit the node's lock count and LRU
    /// time, because every lock that covered the node covered all of its tokens.
    /// </summary>
    private RadixNode Split(RadixNode node, int pages)
    {
        var parent = node.Parent!;
        int tokens = pages * PageSize;
        var front = new RadixNode
        {
            Key = node.Key[..tokens],
            Pages = node.Pages[..pages],
            Parent = parent,
            LockCount = node.LockCount,
            LastAccess = node.LastAccess,
        };
        parent.Children!.Remove(node.Key);
        parent.Children.Add(front.Key, front);
        node.Key = node.Key[tokens..];
        node.Pages = node.Pages[pages..];
        node.Parent = front;
        front.Children = new Dictionary<int[], RadixNode>(_comparer) { { node.Key, node } };
        NodeCount++;
        return front;
    }

    /// <summary>Compares child keys by their first page only: siblings never share a first page.</summary>
    private sealed class FirstPageComparer(int pageSize) : IEqualityComparer<int[]>, IAlternateEqualityComparer<ReadOnlySpan<int>, int[]>
    {
        public bool Equals(int[]? x, int[]? y) =>
            ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan(0, pageSize).SequenceEqual(y.AsSpan(0, pageSize)));

        public int GetHashCode(int[] key) => Hash(key.AsSpan(0, pageSize));

        public bool Equals(ReadOnlySpan<int> firstPage, int[] key) => firstPage.SequenceEqual(key.AsSpan(0, pageSize));

        public int GetHashCode(ReadOnlySpan<int> firstPage) => Hash(firstPage);

        public int[] Create(ReadOnlySpan<int> firstPage) => firstPage.ToArray();

        private static int Hash(ReadOnlySpan<int> page)
        {
            var hash = new HashCode();
            hash.AddBytes(MemoryMarshal.AsBytes(page));
            return hash.ToHashCode();
        }
    }
}
