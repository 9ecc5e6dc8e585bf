using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Dense.Native;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>How <see cref="InterleavedGemm.Interleave"/> arranges a group of 16 rows, i.e. which kernels read it.</summary>
public enum InterleavedLayout
{
    /// <summary>By column pairs, widened to int16 for vpmaddwd: the managed kernels (AVX-512BW).</summary>
    ColumnPairs,
    /// <summary>By column quads, stored unsigned for vpdpbusd: the machine-code VNNI kernels (<see cref="InterleavedGemm.HasQuadKernels"/>).</summary>
    ColumnQuads,
}

/// <summary>
/// Q8_0 and Q4_0 weights times int8-quantized activations (<see cref="ActivationQuantizer"/>) through 16-bit
/// multiply-adds, for any number of tokens, one token included.
/// <para>
/// The weights are copied at load into groups of 16 rows interleaved by column pairs (<see cref="Interleave"/>): for
/// each block of 32 columns, 16 "pair vectors" of [16 rows][2 columns]. One pair vector, widened to int16, meets a
/// token's two activations of the same columns (broadcast as one 32-bit pair) in vpmaddwd, which leaves each row's two
/// products summed in that row's own int32 lane. Sixteen of them give a block's exact int32 sums for 16 rows at once:
/// no sign fix-up (maddubs needs one operand unsigned, which costs Q8_0 about as much as the products) and no
/// horizontal sums. Per block and token one conversion and one FMA by d_w * d_x finish the float result.
/// The block scales are read as stored, f16 (<see cref="BlockScales.Group"/>), so a decode step reads no more bytes
/// per block than the file holds. .NET 10 has
/// no VNNI API, and on Zen 4 vpmaddwd plus vpaddd retire 32 multiply-adds per cycle against 16 for a float FMA.
/// Q8_0 stores a pair vector as 32 int8 (sign-extended); Q4_0 stores two pair vectors in the low and high nibbles of
/// 32 bytes (zero-extended, masked and shifted), and subtracts 8 x the activation block's sum once per block.
/// </para>
/// <para>
/// Measured on the 2-core Zen 4 reference machine (one thread, scratch benchmark of the Q8_0 kernel against the float
/// tile GEMM of <see cref="FloatGemm"/> over <see cref="TileDequantizer"/> rows): 78-84 G multiply-adds/s against
/// 45-52 at 576 x 1536 and 16-128 tokens, 70 against 40-44 at 2048 x 5632 and 128 tokens; one token streams 16-21 GB/s
/// of weights against 11-14 for <see cref="IntegerDot.DotQ8_0Grouped"/> on a 28 MB matrix.
/// </para>
/// <para>
/// Every y[t, r] is one lane of one accumulator: exact int32 block sums (their order cannot matter), then
/// f = fma(float(sum_b), d_w[r, b] * d_x[t, b], f) for b = 0, 1, ... in order, whichever of the 1..8-token kernels
/// computed it. A token's result therefore never depends on the batch, the thread count or how rows were split.
/// </para>
/// <para>
/// Where the processor has AVX512-VNNI the copy is laid out by column quads instead (<see cref="InterleavedLayout"/>)
/// and machine-code kernels (<see cref="InterleavedVnni"/>) take vpdpbusd, 64 multiply-adds per instruction: the same
/// exact int32 block sums and the same float operations in the same order, so the same bits as the 16-bit kernels.
/// </para>
/// </summary>
public static unsafe class InterleavedGemm
{
    /// <summary>Rows of one interleaved group: one int32 lane each in a 512-bit vector.</summary>
    public const int GroupRows = 16;

    /// <summary>
    /// Whether <paramref name="w"/> can be interleaved and multiplied here: Q8_0 or Q4_0 with a scale table
    /// (<see cref="BlockScales.Create"/>), whole groups of 16 rows, every block scale finite, on a machine with
    /// AVX-512BW. The loader asks this before building the copy. An inf or NaN scale (no quantizer writes one) keeps
    /// the matrix on the int8 dot products, whose float table carries it exactly; the kernels here convert only
    /// finite halves.
    /// </summary>
    public static bool Suits(in WeightMatrix w)
    {
        if (!Avx512BW.IsSupported || w.Type is not (GgmlType.Q8_0 or GgmlType.Q4_0) || w.Scales == null || w.Rows % GroupRows != 0) return false;
        long count = (long)w.Rows * (w.Columns / 32);
        for (long i = 0; i < count; i++)
            if (!float.IsFinite(w.Scales[i])) return false;
        return true;
    }

    /// <summary>Whether <paramref name="w"/> has its interleaved copy and grouped scales, so its tokens take this path.</summary>
    public static bool Applies(in WeightMatrix w) => w.Interleaved != null && w.GroupScales != null && Avx512BW.IsSupported
        && (w.InterleavedLayout == InterleavedLayout.ColumnPairs || HasQuadKernels);

    /// <summary>Whether the VNNI kernels of the column-quad layout run here (see <see cref="InterleavedVnni"/>).</summary>
    public static bool HasQuadKernels => InterleavedVnni.IsAvailable;

    /// <summary>Why the VNNI kernels do not run here, or null when they do.</summary>
    public static string? QuadKernelsUnavailable => InterleavedVnni.Unavailable;

    /// <summary>The layout the loader builds: column quads where the VNNI kernels run, else column pairs.</summary>
    public static InterleavedLayout PreferredLayout => HasQuadKernels ? InterleavedLayout.ColumnQuads : InterleavedLayout.ColumnPairs;

    /// <summary>
    /// Copies the values of a Q8_0 or Q4_0 matrix (see <see cref="Suits"/>) as [Rows / 16, Columns / 32, block] with
    /// the 16 rows of a group interleaved by column pairs. Q8_0: pair vector p (columns 2p, 2p + 1) is 32 int8 at
    /// byte 32 p of the block, byte 2 i + j holding W[16 g + i, 32 b + 2 p + j]. Q4_0: 8 chunks of 32 bytes; byte
    /// 2 i + j of chunk c holds the nibbles (0..15, offset 8) of pair vector c in its low half and of pair vector c + 8
    /// in its high half. Free it with <see cref="BlockScales.Free"/>.
    /// <para>
    /// <see cref="InterleavedLayout.ColumnQuads"/>, the same sizes: Q8_0 quad vector q (columns 4q..4q + 3) is 64
    /// bytes at byte 64 q of the block, byte 4 i + j holding W[16 g + i, 32 b + 4 q + j] + 128 (unsigned); Q4_0: 4
    /// chunks of 64 bytes, byte 4 i + j of chunk c holding the nibbles of quad c in its low half and of quad c + 4 in
    /// its high half.
    /// </para>
    /// </summary>
    public static byte* Interleave(in WeightMatrix w, InterleavedLayout layout = InterleavedLayout.ColumnPairs)
    {
        if (w.Type is not (GgmlType.Q8_0 or GgmlType.Q4_0) || w.Rows % GroupRows != 0)
            throw new ArgumentException($"interleaving needs a Q8_0 or Q4_0 matrix of whole groups of {GroupRows} rows, not {w.Type} with {w.Rows} rows");
        // Both layouts: vector v of a block holds `width` columns of the 16 rows (row i at byte width * i), Q4_0 packs
        // vectors c and c + vectors / 2 into the low and high nibbles of one; the quads store Q8_0 offset to unsigned.
        int width = layout == InterleavedLayout.ColumnQuads ? 4 : 2, vectorBytes = GroupRows * width, vectors = 32 / width;
        int offset = layout == InterleavedLayout.ColumnQuads ? 0x80 : 0; // int8 + 128 as a byte: the sign bit flipped
        int blocks = w.Columns / 32, blockBytes = GgmlTypeInfo.BlockBytes(w.Type);
        int groupBlock = w.Type == GgmlType.Q8_0 ? Q8_0Pairs.GroupBlockBytes : Q4_0Pairs.GroupBlockBytes; // either layout
        var copy = (byte*)HugePages.AllocCopy((nuint)((long)w.Rows / GroupRows * blocks * groupBlock));
        nint data = (nint)w.Data, target = (nint)copy;
        int rowBytes = w.RowBytes;
        bool q8 = w.Type == GgmlType.Q8_0;
        // Groups in parallel: at load, a billion weights byte by byte on one core took seconds.
        Parallel.For(0, w.Rows / GroupRows, g =>
        {
            Span<byte> block = stackalloc byte[32]; // one block's values as stored bytes
            for (int i = 0; i < GroupRows; i++)
            {
                byte* row = (byte*)data + ((long)g * GroupRows + i) * rowBytes;
                for (int b = 0; b < blocks; b++)
                {
                    byte* values = row + (long)b * blockBytes + 2;
                    byte* group = (byte*)target + ((long)g * blocks + b) * groupBlock + width * i;
                    if (q8)
                        for (int v = 0; v < vectors; v++)
                            for (int j = 0; j < width; j++) group[vectorBytes * v + j] = (byte)(values[width * v + j] ^ offset);
                    else
                    {
                        for (int k = 0; k < 16; k++) { block[k] = (byte)(values[k] & 0x0F); block[k + 16] = (byte)(values[k] >> 4); }
                        for (int c = 0; c < vectors / 2; c++)
                            for (int j = 0; j < width; j++)
                                group[vectorBytes * c + j] = (byte)(block[width * c + j] | block[width * (c + vectors / 2) + j] << 4);
                    }
                }
            }
        });
        return copy;
    }

    /// <summary>
    /// y[t * yStride + r] for rows [start, end) (multiples of 16) and <paramref name="tokens"/> tokens of widened
    /// activations x16 ([tokens, Columns] int16, <see cref="ActivationQuantizer.QuantizeWidened"/>) with block scales xd and block sums xs of the
    /// int8 values (both [tokens, Columns / 32]; the sums are read for Q4_0 only).
    /// </summary>
    public static void Run(in WeightMatrix w, int start, int end, short* x16, float* xd, int* xs, int tokens, float* y, long yStride)
    {
        if (!Applies(w) || w.InterleavedLayout != InterleavedLayout.ColumnPairs) throw new InvalidOperationException("the matrix has no column-pair interleaved copy (or this machine no AVX-512BW)");
        if (start % GroupRows != 0 || (end % GroupRows != 0 && end != w.Rows)) throw new ArgumentException($"rows [{start}, {end}) are not whole groups of {GroupRows}");
        if (w.Type == GgmlType.Q8_0) Run<Q8_0Pairs>(w, start, end, x16, xd, xs, tokens, y, yStride);
        else Run<Q4_0Pairs>(w, start, end, x16, xd, xs, tokens, y, yStride);
    }

    /// <summary>Bytes of the chunked activations of <paramref name="tokens"/> tokens of <paramref name="cols"/> (see <see cref="ChunkToken"/>).</summary>
    public static long ChunkedBytes(int tokens, int cols) => (long)ChunkCount(tokens) * cols * ChunkTokens;

    /// <summary>Entries of the chunked block sums or scales of <paramref name="tokens"/> tokens of <paramref name="cols"/>.</summary>
    public static long ChunkedBlockEntries(int tokens, int cols) => (long)ChunkCount(tokens) * (cols / 32) * ChunkTokens;

    /// <summary>Tokens whose activations the VNNI kernels read side by side.</summary>
    private const int ChunkTokens = 8;

    private static int ChunkCount(int tokens) => (tokens + ChunkTokens - 1) / ChunkTokens;

    /// <summary>
    /// Writes token <paramref name="t"/>'s int8 activations, block scales and block sums (<see cref="ActivationQuantizer.Quantize"/>)
    /// in the order the VNNI kernels read: chunks of 8 tokens, and in a chunk block by block the 8 tokens' 32 values
    /// ([chunks][blocks][8][32] bytes), scales and negated sums ([chunks][blocks][8]); a block of all 8 tokens is then
    /// one run of 256 bytes, and each token's quads are constant offsets from it.
    /// </summary>
    public static void ChunkToken(int t, ReadOnlySpan<sbyte> quants, ReadOnlySpan<float> scales, ReadOnlySpan<int> sums, sbyte* chunked, float* chunkedScales, int* negatedSums)
    {
        int blocks = scales.Length;
        long at = ChunkEntry(t, blocks);
        for (int b = 0; b < blocks; b++, at += ChunkTokens)
        {
            quants.Slice(b * 32, 32).CopyTo(new Span<sbyte>(chunked + at * 32, 32));
            chunkedScales[at] = scales[b];
            negatedSums[at] = -sums[b];
        }
    }

    /// <summary>
    /// Quantizes token <paramref name="t"/>'s activations straight into the chunked form (<see cref="ChunkToken"/>),
    /// for calls whose kernels read nothing else: the same values, without the token-major copy.
    /// </summary>
    public static void QuantizeChunkToken(int t, ReadOnlySpan<float> x, sbyte* chunked, float* chunkedScales, int* negatedSums)
    {
        long at = ChunkEntry(t, x.Length / 32);
        ActivationQuantizer.QuantizeStrided(x, chunked + at * 32, ChunkTokens * 32, chunkedScales + at, negatedSums + at, ChunkTokens);
    }

    /// <summary>Index of token t's entry for block 0 in the chunked scales and sums (times 32: its values).</summary>
    private static long ChunkEntry(int t, int blocks) => (long)t / ChunkTokens * blocks * ChunkTokens + t % ChunkTokens;

    /// <summary>
    /// <see cref="Run"/> for a matrix laid out by column quads: the VNNI kernels, one call per group of 16 rows, over the
    /// chunked activations (<see cref="ChunkToken"/>). The same bits as <see cref="Run"/> on the column-pair copy.
    /// </summary>
    public static void RunQuads(in WeightMatrix w, int start, int end, sbyte* chunked, float* chunkedScales, int* negatedSums, int tokens, float* y, long yStride)
    {
        if (!Applies(w) || w.InterleavedLayout != InterleavedLayout.ColumnQuads) throw new InvalidOperationException("the matrix has no column-quad copy (or this machine no VNNI kernels)");
        if (start % GroupRows != 0 || (end % GroupRows != 0 && end != w.Rows)) throw new ArgumentException($"rows [{start}, {end}) are not whole groups of {GroupRows}");
        int blocks = w.Columns / 32;
        bool q4 = w.Type == GgmlType.Q4_0;
        long groupBytes = (long)blocks * (q4 ? Q4_0Pairs.GroupBlockBytes : Q8_0Pairs.GroupBlockBytes);
        InterleavedVnni.Call call = default;
        call.X = chunked; call.XScales = chunkedScales; call.NegatedSums = negatedSums;
        call.YStride = yStride * sizeof(float); call.Blocks = blocks; call.Tokens = tokens;
        for (int r = start; r < end; r += GroupRows)
        {
            call.Weights = w.Interleaved + (long)r / GroupRows * groupBytes;
            call.Scales = w.GroupScales + (long)r * blocks;
            call.Y = y + r;
            // As in Run: with several tokens the next group is requested while this one computes.
            call.Prefetch = tokens >= PrefetchTokens && r + GroupRows < w.Rows ? call.Weights + groupBytes : null;
            if (call.Prefetch != null) CachePrefetch.ToL2((byte*)(call.Scales + (long)GroupRows * blocks), (long)GroupRows * blocks * sizeof(ushort));
            InterleavedVnni.Run(q4, &call);
        }
    }

    /// <summary>Bytes of one group's super-block in the Q4_K copy (see <see cref="InterleaveKQuant"/>).</summary>
    public const int Q4_KGroupBytes = 2368;

    /// <summary>Bytes of one group's super-block in the Q6_K copy (see <see cref="InterleaveKQuant"/>).</summary>
    public const int Q6_KGroupBytes = 3392;

    private static int KQuantGroupBytes(GgmlType type) => type == GgmlType.Q4_K ? Q4_KGroupBytes : Q6_KGroupBytes;

    /// <summary>
    /// Whether a Q4_K or Q6_K matrix gets the interleaved copy of <see cref="InterleaveKQuant"/>: whole groups of 16
    /// rows and the VNNI kernels running here. Otherwise it keeps <see cref="KQuantDot"/>'s rows.
    /// </summary>
    public static bool SuitsKQuant(in WeightMatrix w) => w.Type is GgmlType.Q4_K or GgmlType.Q6_K && w.Rows % GroupRows == 0 && HasQuadKernels;

    /// <summary>Whether <paramref name="w"/> is a Q4_K or Q6_K matrix with that copy, so its tokens take <see cref="RunKQuant"/>.</summary>
    public static bool AppliesKQuant(in WeightMatrix w) => w.Type is GgmlType.Q4_K or GgmlType.Q6_K && w.Interleaved != null && HasQuadKernels;

    /// <summary>
    /// Copies a Q4_K or Q6_K matrix for the VNNI kernels, per group of 16 rows and super-block of 256 columns. The
    /// 4-bit values (Q6_K: the low 4 bits) of each block of 32 columns as 4 chunks of 64 bytes, byte 4 i + j of chunk
    /// c holding row i's value of column 4 c + j in its low half and of column 4 (c + 4) + j in its high half (the
    /// Q4_0 quad layout).
    /// Q4_K (2368 bytes, 148 per row against the file's 144): the 16 rows' d (f16), their dmin (f16), the 6-bit scales
    /// of the 8 sub-blocks as bytes [sub-block][row], the mins likewise, then the values.
    /// Q6_K (3392 bytes, 212 per row against 210): the 16 int8 scales as [sub-block][row], the 16 rows' d (f16), 32
    /// bytes of padding (whole cache lines), then per block of 32 the low bits and two 64-byte vectors of high bits
    /// (byte 4 i + j of vector h holds in bits 2 f .. 2 f + 1 the high bits of row i, column 4 (4 h + f) + j): in the
    /// order the kernel reads it, one stream for one-token decode.
    /// Free it with <see cref="BlockScales.Free"/>.
    /// </summary>
    public static byte* InterleaveKQuant(in WeightMatrix w)
    {
        if (w.Type is not (GgmlType.Q4_K or GgmlType.Q6_K) || w.Rows % GroupRows != 0)
            throw new ArgumentException($"the K-quant copy needs a Q4_K or Q6_K matrix of whole groups of {GroupRows} rows, not {w.Type} with {w.Rows} rows");
        bool q4 = w.Type == GgmlType.Q4_K;
        int superBlocks = w.Columns / 256, groupBytes = KQuantGroupBytes(w.Type), blockBytes = GgmlTypeInfo.BlockBytes(w.Type), rowBytes = w.RowBytes;
        var copy = (byte*)HugePages.AllocCopy((nuint)((long)w.Rows / GroupRows * superBlocks * groupBytes));
        nint data = (nint)w.Data, target = (nint)copy;
        // Groups in parallel: at load, a billion weights value by value on one core took seconds.
        Parallel.For(0, w.Rows / GroupRows, g =>
        {
            Span<byte> values = stackalloc byte[256]; // one super-block's values: Q4_K 0..15, Q6_K 0..63 (before the offset)
            for (int s = 0; s < superBlocks; s++)
            {
                byte* dst = (byte*)target + ((long)g * superBlocks + s) * groupBytes;
                if (!q4) new Span<byte>(dst, groupBytes).Clear(); // the high bits are ORed in; the padding stays zero
                for (int i = 0; i < GroupRows; i++)
                {
                    byte* block = (byte*)data + ((long)g * GroupRows + i) * rowBytes + (long)s * blockBytes;
                    if (q4) UnpackQ4_K(block, values);
                    else UnpackQ6_K(block, values);
                    for (int b = 0; b < 8; b++)
                    {
                        // Q4_K: the blocks' values one after another after 320 bytes of scales; Q6_K: each block's low
                        // bits followed by its high bits (384 bytes a block), after 320 bytes of scales and d.
                        byte* lowBits = q4 ? dst + 320 + 256 * b : dst + 320 + 384 * b;
                        for (int c = 0; c < 4; c++)
                            for (int k = 0; k < 4; k++)
                            {
                                int v0 = values[32 * b + 4 * c + k], v1 = values[32 * b + 16 + 4 * c + k]; // quads c and c + 4
                                lowBits[64 * c + 4 * i + k] = (byte)(v0 & 0x0F | (v1 & 0x0F) << 4);
                                if (q4) continue;
                                // The high bits of quad q = 4 h + f in bits 2 f of vector h.
                                lowBits[256 + 4 * i + k] |= (byte)(v0 >> 4 << 2 * c);
                                lowBits[320 + 4 * i + k] |= (byte)(v1 >> 4 << 2 * c);
                            }
                    }
                    if (q4)
                    {
                        ((ushort*)dst)[i] = ((ushort*)block)[0];       // d
                        ((ushort*)(dst + 32))[i] = ((ushort*)block)[1]; // dmin
                        var scalesMins = KQuantDot.UnpackScalesMinsK4(block + 4); // scales in bytes 0-7, mins in 8-15
                        for (int j = 0; j < 8; j++)
                        {
                            dst[64 + 16 * j + i] = scalesMins[j];
                            dst[192 + 16 * j + i] = scalesMins[8 + j];
                        }
                    }
                    else
                    {
                        for (int j = 0; j < 16; j++) dst[16 * j + i] = block[192 + j]; // int8 scales
                        ((ushort*)(dst + 256))[i] = *(ushort*)(block + 208);         // d
                    }
                }
            }
        });
        return copy;
    }

    /// <summary>A Q4_K super-block's 256 nibbles: 32 bytes per pair of sub-blocks, the even one in the low halves.</summary>
    private static void UnpackQ4_K(byte* block, Span<byte> values)
    {
        for (int j = 0; j < 8; j++)
        {
            byte* packed = block + 16 + 32 * (j / 2);
            int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) values[32 * j + l] = (byte)(packed[l] >> shift & 0x0F);
        }
    }

    /// <summary>
    /// A Q6_K super-block's 256 values before the offset of 32 (0..63): each half of 128 takes 64 bytes of low bits
    /// (quarters 0 and 2 from the low and high nibbles of its first 32 bytes, 1 and 3 from the next 32) and 32 bytes of
    /// high bits (2 bits per quarter), as ggml's dequantizer reads them.
    /// </summary>
    private static void UnpackQ6_K(byte* block, Span<byte> values)
    {
        for (int h = 0; h < 2; h++)
        {
            byte* low = block + 64 * h, high = block + 128 + 32 * h;
            for (int l = 0; l < 32; l++)
            {
                int bits = high[l];
                values[128 * h + l] = (byte)(low[l] & 0x0F | (bits & 3) << 4);
                values[128 * h + 32 + l] = (byte)(low[l + 32] & 0x0F | (bits >> 2 & 3) << 4);
                values[128 * h + 64 + l] = (byte)(low[l] >> 4 | (bits >> 4 & 3) << 4);
                values[128 * h + 96 + l] = (byte)(low[l + 32] >> 4 | (bits >> 6 & 3) << 4);
            }
        }
    }

    /// <summary>Entries of the chunked super-block scales of <paramref name="tokens"/> tokens of <paramref name="cols"/>.</summary>
    public static long ChunkedSuperBlockEntries(int tokens, int cols) => (long)ChunkCount(tokens) * (cols / 256) * ChunkTokens;

    /// <summary>
    /// Token <paramref name="t"/>'s activations quantized in super-blocks (<see cref="ActivationQuantizer.QuantizeSuperBlocks"/>)
    /// in the chunked order of <see cref="ChunkToken"/>, with each super-block's scale ([chunks][super-blocks][8]) and
    /// the sums the K-quant kernels start from: each block of 32's sum for Q4_K ([chunks][blocks][8]) and -32 x each
    /// 16 values' sum for Q6_K ([chunks][blocks][8][2]); either may be null when no matrix of the call reads it.
    /// </summary>
    public static void ChunkTokenSuperBlocks(int t, ReadOnlySpan<sbyte> quants, ReadOnlySpan<float> superScales, sbyte* chunked, float* chunkedScales,
        int* sums32, int* offsetSums16)
    {
        int blocks = quants.Length / 32;
        long at = ChunkEntry(t, blocks);
        for (int b = 0; b < blocks; b++, at += ChunkTokens)
        {
            var block = quants.Slice(b * 32, 32);
            block.CopyTo(new Span<sbyte>(chunked + at * 32, 32));
            int first = 0, second = 0;
            for (int i = 0; i < 16; i++) { first += block[i]; second += block[16 + i]; }
            if (sums32 != null) sums32[at] = first + second;
            if (offsetSums16 != null) { offsetSums16[2 * at] = -32 * first; offsetSums16[2 * at + 1] = -32 * second; }
        }
        long superAt = ChunkEntry(t, superScales.Length);
        for (int s = 0; s < superScales.Length; s++, superAt += ChunkTokens) chunkedScales[superAt] = superScales[s];
    }

    /// <summary>
    /// y[t * yStride + r] for rows [start, end) (whole groups) of a Q4_K or Q6_K matrix with its interleaved copy,
    /// every token through the VNNI kernel, one call per group of 16 rows; activations from
    /// <see cref="ChunkTokenSuperBlocks"/> (<paramref name="sums"/>: the form of the matrix's type). Per super-block and
    /// token the exact int32 sums (Q4_K: of sc * S and of m * B; Q6_K: of sc * (S - 32 B)), then Q4_K
    /// y = fma(float(sum sc S), d * dx, y) and y = fma(-float(sum m B), dmin * dx, y), Q6_K y = fma(float(sum), d * dx, y),
    /// super-blocks in order, so a token's bits never depend on its batch.
    /// </summary>
    public static void RunKQuant(in WeightMatrix w, int start, int end, sbyte* chunked, int* sums, float* chunkedScales, int tokens, float* y, long yStride)
    {
        if (!AppliesKQuant(w)) throw new InvalidOperationException("the matrix has no K-quant interleaved copy (or this machine no VNNI kernels)");
        if (start % GroupRows != 0 || (end % GroupRows != 0 && end != w.Rows)) throw new ArgumentException($"rows [{start}, {end}) are not whole groups of {GroupRows}");
        int superBlocks = w.Columns / 256, groupBytes = KQuantGroupBytes(w.Type);
        InterleavedVnni.Call call = default;
        call.X = chunked; call.NegatedSums = sums; call.XScales = chunkedScales;
        call.YStride = yStride * sizeof(float); call.Blocks = superBlocks;
        for (int r = start; r < end; r += GroupRows)
        {
            call.Weights = w.Interleaved + (long)r / GroupRows * superBlocks * groupBytes;
            call.Y = y + r;
            call.Tokens = tokens; // counted down by the kernel
            InterleavedVnni.RunKQuant(w.Type, &call);
        }
    }

    /// <summary>Calls with at least this many tokens request the next group's weights ahead (see Run).</summary>
    private const int PrefetchTokens = 4;

    private static void Run<TFormat>(in WeightMatrix w, int start, int end, short* x16, float* xd, int* xs, int tokens, float* y, long yStride)
        where TFormat : struct, IPairFormat
    {
        int cols = w.Columns, blocks = cols / 32;
        for (int r = start; r < end; r += GroupRows)
        {
            var group = new Group(w.Interleaved + (long)r / GroupRows * blocks * TFormat.GroupBlockBytes, w.GroupScales + (long)r * blocks, blocks);
            // With several tokens the kernel is compute-bound and the hardware prefetcher alone left it waiting on
            // memory (16 tokens: 51-56 G multiply-adds/s per core from DRAM against 67-72 from L2), so the next group
            // is requested while this one computes (+5-20%, 16-sequence decode of the 135M shape +10-18%). It goes
            // past this work item's rows: with one thread the next item is this thread's; with two it is often the
            // other's, and stopping at the item's end measured no better (noise either way). One to three tokens
            // stream at the memory's speed without it, and the requests for rows another thread takes cost bandwidth.
            byte* next = tokens >= PrefetchTokens && r + GroupRows < w.Rows ? group.Weights + (long)blocks * TFormat.GroupBlockBytes : null;
            if (next != null) CachePrefetch.ToL2((byte*)(group.Scales + (long)GroupRows * blocks), (long)GroupRows * blocks * sizeof(ushort));
            int t = 0;
            for (; t + 8 <= tokens; t += 8) { Tokens<TFormat, Eight>(group, x16, xd, xs, cols, t, y + r, yStride, next); next = null; } // requested once
            switch (tokens - t)
            {
                case 7: Tokens<TFormat, Seven>(group, x16, xd, xs, cols, t, y + r, yStride, next); break;
                case 6: Tokens<TFormat, Six>(group, x16, xd, xs, cols, t, y + r, yStride, next); break;
                case 5: Tokens<TFormat, Five>(group, x16, xd, xs, cols, t, y + r, yStride, next); break;
                case 4: Tokens<TFormat, Four>(group, x16, xd, xs, cols, t, y + r, yStride, next); break;
                case 3: Tokens<TFormat, Three>(group, x16, xd, xs, cols, t, y + r, yStride, next); break;
                case 2: Tokens<TFormat, Two>(group, x16, xd, xs, cols, t, y + r, yStride, next); break;
                case 1: Tokens<TFormat, One>(group, x16, xd, xs, cols, t, y + r, yStride, next); break;
            }
        }
    }

    private readonly struct Group(byte* weights, ushort* scales, int blocks)
    {
        public readonly byte* Weights = weights;
        public readonly ushort* Scales = scales;
        public readonly int Blocks = blocks;
    }

    /// <summary>
    /// How a type stores a block's 16 pair vectors: step c (0..7) yields two of them, for the column pairs
    /// <see cref="FirstPair"/>(c) and <see cref="SecondPair"/>(c), as int16 values.
    /// </summary>
    private interface IPairFormat
    {
        static abstract int GroupBlockBytes { get; }
        static abstract int FirstPair(int c);
        static abstract int SecondPair(int c);
        static abstract void Load(byte* block, int c, out Vector512<short> first, out Vector512<short> second);
        /// <summary>Whether stored values are offset by 8 (Q4_0): 8 x the activation block's sum is then subtracted.</summary>
        static abstract bool OffsetByEight { get; }
    }

    private struct Q8_0Pairs : IPairFormat
    {
        public static int GroupBlockBytes => 32 * GroupRows;
        public static int FirstPair(int c) => 2 * c;
        public static int SecondPair(int c) => 2 * c + 1;
        public static bool OffsetByEight => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load(byte* block, int c, out Vector512<short> first, out Vector512<short> second)
        {
            first = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)block + 64 * c));
            second = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)block + 64 * c + 32));
        }
    }

    private struct Q4_0Pairs : IPairFormat
    {
        public static int GroupBlockBytes => 16 * GroupRows;
        public static int FirstPair(int c) => c;
        public static int SecondPair(int c) => c + 8;
        public static bool OffsetByEight => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load(byte* block, int c, out Vector512<short> first, out Vector512<short> second)
        {
            var both = Avx512BW.ConvertToVector512Int16(Vector256.Load(block + 32 * c)); // zero-extended bytes
            first = both & Vector512.Create((short)0x0F);
            second = Vector512.ShiftRightLogical(both, 4);
        }
    }

    /// <summary>How many tokens one kernel instance handles; a constant after JIT specialisation.</summary>
    private interface ITokenCount { static abstract int Value { get; } }
    private struct One : ITokenCount { public static int Value => 1; }
    private struct Two : ITokenCount { public static int Value => 2; }
    private struct Three : ITokenCount { public static int Value => 3; }
    private struct Four : ITokenCount { public static int Value => 4; }
    private struct Five : ITokenCount { public static int Value => 5; }
    private struct Six : ITokenCount { public static int Value => 6; }
    private struct Seven : ITokenCount { public static int Value => 7; }
    private struct Eight : ITokenCount { public static int Value => 8; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PairProducts(Vector512<short> weights, int* pair) =>
        Avx512BW.MultiplyAddAdjacent(weights, Vector512.Create(*pair).AsInt16());

    /// <summary>The block's two pair vectors of step c against one token's activation pairs x (that token's block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Step<TFormat>(Vector512<int> sums, Vector512<short> first, Vector512<short> second, int* x, int c)
        where TFormat : struct, IPairFormat =>
        sums + PairProducts(first, x + TFormat.FirstPair(c)) + PairProducts(second, x + TFormat.SecondPair(c));

    /// <summary>
    /// 16 finite f16 scales as floats, exactly (.NET has no F16C API; <see cref="Suits"/> keeps inf and NaN away):
    /// three instructions per block of 16 rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalfScales(ushort* halves) => HalfConvert.ToSingleFinite(Vector256.Load((short*)halves));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Scaled<TFormat>(Vector512<float> acc, Vector512<int> sums, int* xs, Vector512<float> rowScales, float tokenScale)
        where TFormat : struct, IPairFormat
    {
        if (TFormat.OffsetByEight) sums -= Vector512.Create(8 * *xs);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), rowScales * tokenScale, acc);
    }

    /// <summary>
    /// Tokens [first, first + TCount) against one group of 16 rows. The accumulators are separate locals, guarded by
    /// a count the JIT knows, so they stay in registers (an array of them would not). <paramref name="prefetch"/>, when
    /// not null, is the next group's weights, requested into L2 a block at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tokens<TFormat, TCount>(in Group group, short* x16, float* xd, int* xs, int cols, int first, float* y, long yStride, byte* prefetch)
        where TFormat : struct, IPairFormat where TCount : struct, ITokenCount
    {
        int n = TCount.Value, blocks = group.Blocks;
        int* x = (int*)(x16 + (long)first * cols); // column pairs
        long xp = cols / 2;                         // pairs per token
        float* d = xd + (long)first * blocks;
        int* s = xs + (long)first * blocks;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        for (int b = 0; b < blocks; b++)
        {
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            byte* wb = group.Weights + (long)b * TFormat.GroupBlockBytes;
            int* xb = x + b * 16;
            if (prefetch != null) CachePrefetch.ToL2(prefetch + (long)b * TFormat.GroupBlockBytes, TFormat.GroupBlockBytes); // spread over the blocks
            for (int c = 0; c < 8; c++)
            {
                TFormat.Load(wb, c, out var v0, out var v1);
                i0 = Step<TFormat>(i0, v0, v1, xb, c);
                if (n > 1) i1 = Step<TFormat>(i1, v0, v1, xb + xp, c);
                if (n > 2) i2 = Step<TFormat>(i2, v0, v1, xb + 2 * xp, c);
                if (n > 3) i3 = Step<TFormat>(i3, v0, v1, xb + 3 * xp, c);
                if (n > 4) i4 = Step<TFormat>(i4, v0, v1, xb + 4 * xp, c);
                if (n > 5) i5 = Step<TFormat>(i5, v0, v1, xb + 5 * xp, c);
                if (n > 6) i6 = Step<TFormat>(i6, v0, v1, xb + 6 * xp, c);
                if (n > 7) i7 = Step<TFormat>(i7, v0, v1, xb + 7 * xp, c);
            }
            var rs = HalfScales(group.Scales + 16 * b);
            float* db = d + b;
            int* sb = s + b;
            f0 = Scaled<TFormat>(f0, i0, sb, rs, db[0]);
            if (n > 1) f1 = Scaled<TFormat>(f1, i1, sb + blocks, rs, db[blocks]);
            if (n > 2) f2 = Scaled<TFormat>(f2, i2, sb + 2 * blocks, rs, db[2 * blocks]);
            if (n > 3) f3 = Scaled<TFormat>(f3, i3, sb + 3 * blocks, rs, db[3 * blocks]);
            if (n > 4) f4 = Scaled<TFormat>(f4, i4, sb + 4 * blocks, rs, db[4 * blocks]);
            if (n > 5) f5 = Scaled<TFormat>(f5, i5, sb + 5 * blocks, rs, db[5 * blocks]);
            if (n > 6) f6 = Scaled<TFormat>(f6, i6, sb + 6 * blocks, rs, db[6 * blocks]);
            if (n > 7) f7 = Scaled<TFormat>(f7, i7, sb + 7 * blocks, rs, db[7 * blocks]);
        }
        float* yt = y + first * yStride;
        f0.Store(yt);
        if (n > 1) f1.Store(yt + yStride);
        if (n > 2) f2.Store(yt + 2 * yStride);
        if (n > 3) f3.Store(yt + 3 * yStride);
        if (n > 4) f4.Store(yt + 4 * yStride);
        if (n > 5) f5.Store(yt + 5 * yStride);
        if (n > 6) f6.Store(yt + 6 * yStride);
        if (n > 7) f7.Store(yt + 7 * yStride);
    }
}
