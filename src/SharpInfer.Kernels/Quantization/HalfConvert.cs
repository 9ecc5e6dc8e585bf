using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels.Quantization;

/// <summary>
/// IEEE half -> float in a few integer operations. The runtime's (float)Half conversion takes ~25 cycles, and the
/// block scales of Q8_0/Q4_0 are converted once per 32 weights in the hot loops. Exact for every input (tested
/// against (float)Half over all 65536 values).
/// </summary>
public static class HalfConvert
{
    private const float TwoTo112 = 5.192296858534828e33f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort h)
    {
        uint magnitude = h & 0x7fffu;
        // Shift exponent and mantissa into float position; scaling by 2^112 rebiases the exponent (15 -> 127) and,
        // for subnormal halves, normalises them exactly.
        float f = BitConverter.UInt32BitsToSingle(magnitude << 13) * TwoTo112;
        if (magnitude >= 0x7c00u) f = BitConverter.UInt32BitsToSingle((magnitude << 13) | 0x7f800000u); // inf, NaN
        return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(f) | ((uint)(h & 0x8000u) << 16));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float ToSingle(byte* p) => ToSingle(*(ushort*)p);

    /// <summary>Eight half bit patterns (zero-extended to 32 bits) to floats: the vector form of <see cref="ToSingle(ushort)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        var magnitude = h & Vector256.Create(0x7fffu);
        var shifted = Vector256.ShiftLeft(magnitude, 13);
        var finite = shifted.AsSingle() * Vector256.Create(TwoTo112);
        var special = (shifted | Vector256.Create(0x7f800000u)).AsSingle();
        var value = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x7c00u)).AsSingle(), special, finite);
        return (value.AsUInt32() | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>Sixteen half bit patterns (zero-extended to 32 bits) to floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> h)
    {
        var magnitude = h & Vector512.Create(0x7fffu);
        var shifted = Vector512.ShiftLeft(magnitude, 13);
        var finite = shifted.AsSingle() * Vector512.Create(TwoTo112);
        var special = (shifted | Vector512.Create(0x7f800000u)).AsSingle();
        var value = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7c00u)).AsSingle(), special, finite);
        return (value.AsUInt32() | Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>
    /// <see cref="ToSingle(Vector512{uint})"/> for finite halves only (exponent below 31) in four instructions instead
    /// of nine: the half's bits are moved into float position with the sign in place (shift left 16, arithmetic shift
    /// right 3, mask the three sign copies), and one multiply by 2^112 rebiases the exponent and normalises subnormals.
    /// Inf and NaN inputs give wrong finite values, so callers check for them (see RowDot's F16 dot).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingleFinite(Vector512<uint> h)
    {
        var bits = Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(h, 16).AsInt32(), 3) & Vector512.Create(unchecked((int)0x8FFFFFFF));
        return bits.AsSingle() * Vector512.Create(TwoTo112);
    }

    /// <summary>
    /// Sixteen packed finite halves (read as int16) to floats, the same trick in three instructions where they come
    /// packed: sign-extending to 32 bits already leaves the sign copies that a shift by 13 and a mask clear. AVX-512F.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingleFinite(Vector256<short> halves)
    {
        var bits = Vector512.ShiftLeft(Avx512F.ConvertToVector512Int32(halves), 13) & Vector512.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector512.Create(TwoTo112);
    }

    /// <summary>Eight-lane <see cref="ToSingleFinite(Vector512{uint})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingleFinite(Vector256<uint> h)
    {
        var bits = Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(h, 16).AsInt32(), 3) & Vector256.Create(unchecked((int)0x8FFFFFFF));
        return bits.AsSingle() * Vector256.Create(TwoTo112);
    }

    /// <summary>Converts a span of halves; vectorised, exact.</summary>
    public static unsafe void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        int n = source.Length, i = 0;
        fixed (ushort* s = source) fixed (float* d = destination)
        {
            if (Vector256.IsHardwareAccelerated)
                for (; i + 16 <= n; i += 16)
                {
                    var (lo, hi) = Vector256.Widen(Vector256.Load(s + i));
                    ToSingle(lo).Store(d + i);
                    ToSingle(hi).Store(d + i + 8);
                }
            for (; i < n; i++) d[i] = ToSingle(s[i]);
        }
    }
}
