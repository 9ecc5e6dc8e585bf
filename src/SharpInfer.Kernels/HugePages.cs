using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace SharpInfer.Kernels;

/// <summary>
/// Large zeroed buffers backed by transparent huge pages where Linux allows them (THP in "madvise" mode, as on the
/// reference machine, maps 2 MiB pages only for memory advised with MADV_HUGEPAGE). A buffer streamed by kernels,
/// such as the KV cache, then needs one TLB entry per 2 MiB instead of per 4 KiB: decode attention over 8 x 4096
/// keys (268 MB of F32 K/V) ran 8-15% faster (in-process A/B against 4 KiB pages, two and one threads). The memory is an
/// anonymous mapping, zero-filled by the kernel page by page on first touch (so an unused part of a large KV pool
/// costs no memory); elsewhere, or when the advice is refused, it is ordinary zeroed memory.
/// </summary>
internal static unsafe class HugePages
{
    public const nuint PageBytes = 2u << 20;
    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20, MadvHugePage = 14, MadvPageOut = 21;

    private static readonly nint s_mmap, s_munmap, s_madvise;

    static HugePages()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (!NativeLibrary.TryLoad("libc.so.6", out nint libc) && !NativeLibrary.TryLoad("libc", out libc)) return;
        if (NativeLibrary.TryGetExport(libc, "mmap", out nint mmap) && NativeLibrary.TryGetExport(libc, "munmap", out nint munmap)
            && NativeLibrary.TryGetExport(libc, "madvise", out nint madvise))
            (s_mmap, s_munmap, s_madvise) = (mmap, munmap, madvise);
    }

    /// <summary>One allocation: <see cref="Data"/> is 64-byte aligned (2 MiB where mapped here).</summary>
    public readonly struct Block(void* data, void* mapping, nuint mappedBytes)
    {
        public readonly void* Data = data;
        internal readonly void* Mapping = mapping;     // the mmap'ed range, or null for NativeMemory
        internal readonly nuint MappedBytes = mappedBytes;
    }

    /// <summary><paramref name="bytes"/> zeroed bytes; free with <see cref="Free"/>.</summary>
    public static Block AllocZeroed(nuint bytes)
    {
        if (bytes >= PageBytes && s_mmap != 0)
        {
            // One huge page more than asked, so that a 2 MiB-aligned start fits; the slack is never touched.
            nuint length = ((bytes + PageBytes - 1) & ~(PageBytes - 1)) + PageBytes;
            nint mapping = ((delegate* unmanaged<nint, nuint, int, int, int, nint, nint>)s_mmap)(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            if (mapping != -1 && mapping != 0)
            {
                nint aligned = (mapping + (nint)PageBytes - 1) & ~(nint)(PageBytes - 1);
                // Advice for the whole huge pages inside the buffer only: a huge page over its tail would make up to
                // 2 MiB resident for a few bytes (a 2.4 MB matrix would take 4 MiB). Refused advice leaves small pages.
                ((delegate* unmanaged<nint, nuint, int, int>)s_madvise)(aligned, bytes & ~(PageBytes - 1), MadvHugePage);
                return new Block((void*)aligned, (void*)mapping, length);
            }
        }
        void* block = NativeMemory.AlignedAlloc(bytes == 0 ? 1 : bytes, 64);
        NativeMemory.Clear(block, bytes);
        return new Block(block, null, 0);
    }

    private static readonly ConcurrentDictionary<nint, Block> s_copies = new();

    /// <summary>
    /// Memory for a copy made once and then streamed (the kernels' prepared weights), 64-byte aligned; in huge pages
    /// from 2 MiB up. Its content is unspecified. Free it with <see cref="FreeCopy"/>. Decode of the 1.1B shape
    /// (`sharpinfer generate`, runs alternating with 4 KiB pages): Q4_0 41.2 -> 42.6 tok/s and 38.1 -> 41.0 over two
    /// sets of three, F16 (its column-blocked copies) 14.7 -> 16.0. Float matrices read straight from the file
    /// mapping are copied too (<see cref="Copy"/>; see PreparedWeights.Prepare).
    /// </summary>
    public static void* AllocCopy(nuint bytes)
    {
        if (bytes < PageBytes || s_mmap == 0) return NativeMemory.AlignedAlloc(bytes == 0 ? 1 : bytes, 64);
        var block = AllocZeroed(bytes);
        if (block.Mapping != null) s_copies[(nint)block.Data] = block;
        return block.Data;
    }

    /// <summary>
    /// A copy of <paramref name="bytes"/> bytes at <paramref name="source"/> in memory from <see cref="AllocCopy"/>,
    /// copied in parallel; afterwards the source's whole pages are advised out (MADV_PAGEOUT), so that a source in
    /// a file mapping stops counting twice in the resident memory: its clean pages leave, and a later read fetches
    /// them again (anonymous memory keeps its data: without swap the advice does nothing). Free it with <see cref="FreeCopy"/>.
    /// </summary>
    public static void* Copy(void* source, nuint bytes)
    {
        var copy = AllocCopy(bytes);
        const long part = 16L << 20;
        nint from = (nint)source, to = (nint)copy;
        long total = (long)bytes;
        Parallel.For(0, (int)((total + part - 1) / part), i =>
        {
            long n = Math.Min(part, total - i * part);
            Buffer.MemoryCopy((byte*)from + i * part, (byte*)to + i * part, n, n);
        });
        if (s_madvise != 0)
        {
            const nint small = 4096;
            nint start = (from + small - 1) & ~(small - 1), end = (from + (nint)bytes) & ~(small - 1);
            if (end > start) ((delegate* unmanaged<nint, nuint, int, int>)s_madvise)(start, (nuint)(end - start), MadvPageOut); // advice only
        }
        return copy;
    }

    /// <summary>Frees memory from <see cref="AllocCopy"/> (or from NativeMemory.AlignedAlloc); null is ignored.</summary>
    public static void FreeCopy(void* data)
    {
        if (data == null) return;
        if (s_copies.TryRemove((nint)data, out var block)) Free(block);
        else NativeMemory.AlignedFree(data);
    }

    public static void Free(in Block block)
    {
        if (block.Data == null) return;
        if (block.Mapping != null) ((delegate* unmanaged<nint, nuint, int>)s_munmap)((nint)block.Mapping, block.MappedBytes);
        else NativeMemory.AlignedFree(block.Data);
    }
}
