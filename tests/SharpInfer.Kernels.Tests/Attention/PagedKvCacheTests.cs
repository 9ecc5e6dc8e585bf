using SharpInfer.Kernels.Attention;

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

    [Fact]
    public void HeadPagesExistOnlyInHnd()
    {
        using var nhd = new PagedKvCache(1, 1, 4, 2, 16, KvLayout.Nhd);
        Assert.Throws<InvalidOperationException>(() => { _ = nhd.KeyHeadPage(0, 0, 1); });
    }
}
