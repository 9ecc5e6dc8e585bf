using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels;

/// <summary>Software prefetch of a byte range into L2, one request per 64-byte line (nothing where SSE is missing).</summary>
internal static unsafe class CachePrefetch
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToL2(byte* start, long bytes)
    {
        if (!Sse.IsSupported || bytes <= 0) return;
        // From the line holding the first byte, so that an unaligned range's last line is requested too.
        byte* end = start + bytes;
        for (byte* line = (byte*)((nint)start & ~(nint)63); line < end; line += 64) Sse.Prefetch1(line);
    }
}
