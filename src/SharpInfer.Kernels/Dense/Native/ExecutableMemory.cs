using System.Runtime.InteropServices;

namespace SharpInfer.Kernels.Dense.Native;

/// <summary>
/// Maps machine code into memory the processor may execute: fresh anonymous pages, written while read-write, then
/// switched to read-execute (never both, as hardened kernels require). Linux on x64 only, through libc's mmap and
/// mprotect; the mapping lives as long as the process (the kernels are a few kilobytes, mapped once).
/// </summary>
internal static unsafe class ExecutableMemory
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;

    /// <summary>A read-execute copy of <paramref name="code"/>, or null with the reason in <paramref name="failure"/>.</summary>
    public static byte* TryMap(ReadOnlySpan<byte> code, out string? failure)
    {
        failure = null;
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            failure = $"machine-code kernels are mapped on Linux x64 only (this is {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture})";
            return null;
        }
        if (!NativeLibrary.TryLoad("libc.so.6", out nint libc) && !NativeLibrary.TryLoad("libc", out libc))
        {
            failure = "libc could not be loaded";
            return null;
        }
        if (!NativeLibrary.TryGetExport(libc, "mmap", out nint mmapAddress) || !NativeLibrary.TryGetExport(libc, "mprotect", out nint mprotectAddress))
        {
            failure = "libc has no mmap/mprotect";
            return null;
        }
        var mmap = (delegate* unmanaged<nint, nuint, int, int, int, nint, nint>)mmapAddress;
        var mprotect = (delegate* unmanaged<nint, nuint, int, int>)mprotectAddress;
        if (!NativeLibrary.TryGetExport(libc, "munmap", out nint munmapAddress))
        {
            failure = "libc has no munmap";
            return null;
        }
        nuint length = (nuint)((code.Length + 4095) & ~4095);
        nint pages = mmap(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (pages == -1 || pages == 0)
        {
            failure = $"mmap of {length} bytes failed (errno {Marshal.GetLastSystemError()})";
            return null;
        }
        code.CopyTo(new Span<byte>((void*)pages, code.Length));
        if (mprotect(pages, length, ProtRead | ProtExec) != 0)
        {
            // e.g. SELinux deny_execmem; the error number is read right after the call, without a guarantee that the
            // runtime kept it, so it only serves the message.
            failure = $"mprotect to read-execute failed (errno {Marshal.GetLastSystemError()})";
            ((delegate* unmanaged<nint, nuint, int>)munmapAddress)(pages, length);
            return null;
        }
        return (byte*)pages;
    }
}
