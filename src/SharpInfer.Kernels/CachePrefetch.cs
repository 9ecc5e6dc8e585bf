using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels;

/// <summary>Software prefetch of a byte range into L2, one request per 64-byte line (nothing where SSE is missing).</summary>
internal static unsafe class CachePrefetch
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToL2(byte* start, long bytes)
    {
        if (!Sse.IsSupported) return;
        for (long offset = 0; offset < bytes; offset += 64) Sse.Prefetch1(start + offset);
    }
}
