using SharpInfer.Engine.Kv;

namespace SharpInfer.Engine.Tests.Kv;

public class PageAllocatorTests
{
    [Fact]
    public void AllocatesLowIdsFirstAndRefusesWithoutChangingAnything()
    {
        var allocator = new PageAllocator(4);
        var pages = new List<int>();
        Assert.True(allocator.TryAllocate(3, pages));
        Assert.Equal([0, 1, 2], pages);
        Assert.False(allocator.TryAllocate(2, pages));
        Assert.Equal(3, pages.Count);
        Assert.Equal(1, allocator.FreePages);
        Assert.Equal(3, allocator.UsedPages);
    }

    [Fact]
    public void FreeReturnsPagesAndDetectsDoubleAndForeignFrees()
    {
        var allocator = new PageAllocator(4);
        var pages = new List<int>();
        allocator.TryAllocate(2, pages);
        allocator.Free(pages);
        Assert.Empty(pages);
        Assert.Equal(4, allocator.FreePages);
        Assert.True(allocator.IsFree(1));
        Assert.Throws<InvalidOperationException>(() => allocator.Free(1));
        Assert.Throws<InvalidOperationException>(() => allocator.Free(4));
        allocator.TryAllocate(1, pages);
        allocator.Free(pages[0]);
        Assert.Throws<InvalidOperationException>(() => allocator.Free(pages[0]));
    }
}
