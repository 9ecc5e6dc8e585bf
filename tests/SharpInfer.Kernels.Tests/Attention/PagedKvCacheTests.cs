using System.Runtime.CompilerServices;
using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Attention;

public unsafe class PagedKvCacheTests
{
    [Theory]
    [InlineData(KvLayout.Hnd)]
    [InlineData(KvLayout.Nhd)]
    public void WriteStoresEachHeadAtItsLayoutsOffset(KvLayout layout)
    {
        const int pages = 3, pageSize = 4, heads = 2, d = 16;
        using var cache = new PagedKvCache(2, pages, pageSize, heads, d, layout);
        var key = Enumerable.Range(0, heads * d).Select(i => (float)i + 1).ToArray();
        var value = key.Select(x => -x).ToArray();
        cache.Write(1, page: 2, entry: 3, key, value);
        var view = cache.View(1);
        for (int h = 0; h < heads; h++)
        {
            long offset = layout == KvLayout.Hnd ? ((2L * heads + h) * pageSize + 3) * d : ((2L * pageSize + 3) * heads + h) * d;
            Assert.Equal(key[h * d], view.Keys[offset]);
            Assert.Equal(value[h * d + d - 1], view.Values[offset + d - 1]);
            Assert.True(view.KeyRow(2, 3, h) == view.Keys + offset);
        }
        Assert.Equal(0f, cache.View(0).Keys[0]); // other layers untouched
    }

    /// <summary>
    /// Layers of 2 MiB or more are mapped apart (Linux: 2 MiB-aligned, advised as transparent huge pages): zeroed from
    /// the first to the last float, writable everywhere, small layers 64-byte aligned, and freed without fault.
    /// </summary>
    [Fact]
    public void LargeLayersAreZeroedAlignedAndWritableToTheirEnd()
    {
        const int pages = 300, pageSize = 16, heads = 4, d = 64; // 4.9 MB per layer's K
        using (var cache = new PagedKvCache(2, pages, pageSize, heads, d))
            for (int layer = 0; layer < 2; layer++)
            {
                var view = cache.View(layer);
                long floats = (long)pages * pageSize * heads * d;
                Assert.True((nint)view.Keys % 64 == 0 && (nint)view.Values % 64 == 0);
                if (OperatingSystem.IsLinux()) Assert.True((nint)view.Keys % (2 << 20) == 0, "a large layer should start on a 2 MiB boundary");
                for (long i = 0; i < floats; i += 997) { Assert.Equal(0f, view.Keys[i]); Assert.Equal(0f, view.Values[i]); }
                Assert.Equal(0f, view.Keys[floats - 1]);
                var row = Enumerable.Range(0, heads * d).Select(i => (float)i).ToArray();
                cache.Write(layer, pages - 1, pageSize - 1, row, row);
                Assert.Equal(heads * d - 1f, view.Values[floats - 1]);
            }
        using var small = new PagedKvCache(1, 2, 4, 1, 16);
        Assert.True((nint)small.View(0).Keys % 64 == 0);
        Assert.Equal(0f, small.View(0).Values[2 * 4 * 16 - 1]);
    }

    /// <summary>
    /// A view is all a caller may keep of a cache (`new PagedKvCache(...).View(0)`): the cache must not be finalized,
    /// and its memory unmapped, while the view is still used; before the view held its cache this read unmapped
    /// memory and killed the process.
    /// </summary>
    [Fact]
    public unsafe void AViewKeepsItsCacheAliveWithoutOtherReferences()
    {
        const int heads = 4, d = 64;
        var view = ViewOfUnreferencedCache(heads, d);
        for (int i = 0; i < 3; i++) { GC.Collect(); GC.WaitForPendingFinalizers(); }
        var values = new float[heads * d];
        for (int h = 0; h < heads; h++)
            for (int e = 0; e < d; e++)
            {
                view.KeyRow(0, 0, h)[e] = 0.5f;
                view.ValueRow(0, 0, h)[e] = values[h * d + e] = h + e / 64f;
            }
        using var pool = new WorkerPool(2);
        var attention = new BatchAttention(pool);
        attention.Plan([0, 1], PageTable.ForSingle([0], 1, 16), heads, heads, d);
        var q = Enumerable.Repeat(1f, heads * d).ToArray();
        var output = new float[heads * d];
        fixed (float* qp = q) fixed (float* op = output) attention.Run(view, qp, op, null, new CausalMask(0.125f));
        Assert.Equal(values, output); // one key: each head's output is its V row
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static PagedKvView ViewOfUnreferencedCache(int heads, int d) => new PagedKvCache(1, 300, 16, heads, d).View(0); // 4.9 MB layers: mapped, unmapped by the finalizer

    [Fact]
    public void HeadPagesExistOnlyInHnd()
    {
        using var nhd = new PagedKvCache(1, 1, 4, 2, 16, KvLayout.Nhd);
        Assert.Throws<InvalidOperationException>(() => { _ = nhd.KeyHeadPage(0, 0, 1); });
    }
}
