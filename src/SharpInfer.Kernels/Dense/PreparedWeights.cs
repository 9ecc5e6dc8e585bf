using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// The copies and tables that the fast kernels read, made once when weights are loaded: block-scale tables of
/// Q8_0/Q4_0 (<see cref="BlockScales"/>), the interleaved copy of Q8_0/Q4_0 (<see cref="InterleavedGemm"/>), packed Q8_0/Q4_0
/// payloads (rows not in whole groups of 16), column-blocked copies of long F16 rows (<see cref="RowDot.BlockF16"/>),
/// Q4_K/Q6_K interleaved by 16 rows for the VNNI kernels (<see cref="InterleavedGemm.InterleaveKQuant"/>), else Q4_K
/// with unpacked scales (<see cref="KQuantDot.Repack"/>). A model prepares its matrices
/// here, and so does the kernel benchmark, so that both run the same kernels. The native memory belongs to this
/// object and is freed by <see cref="Dispose"/>; the prepared matrices must not be used after that.
/// </summary>
public sealed unsafe class PreparedWeights : IDisposable
{
    private readonly List<nint> _tables = [];

    /// <summary><paramref name="w"/> with whatever its type's fastest kernels read; other types come back as they are.</summary>
    public WeightMatrix Prepare(WeightMatrix w)
    {
        if (w.Type == GgmlType.F16 && RowDot.F16BlockColumns(w.Columns) is int blockColumns and > 0)
            return w.WithBlocked(Keep(RowDot.BlockF16(w, blockColumns)), blockColumns);
        // Other float matrices would be streamed from the file mapping, in 4 KiB pages: copied into transparent huge
        // pages, 1.1B-shape decode ran 8-10% faster for F32 (7.0 -> 7.6 tok/s, four alternating runs) and ~11% for
        // F16 (median of five 13.2 -> 14.8), both at two threads, where both engines stream at the memory's speed.
        if (w.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 && (long)w.Rows * w.RowBytes >= (long)HugePages.PageBytes)
            return new WeightMatrix(Keep((byte*)HugePages.Copy(w.Data, (nuint)((long)w.Rows * w.RowBytes))), w.Type, w.Rows, w.Columns);
        // Q4_K super-blocks with their two f16 scales as floats and the twelve bytes of packed 6-bit scales and mins
        // as sixteen: 8 bytes more per 256 weights, and the kernels skip the unpacking (in isolation ~15 of a
        // super-block's ~40 cycles; one token through 5632 x 2048 on two threads 222-228 -> 173-204 us).
        // Where the VNNI kernels run, Q4_K and Q6_K groups of 16 rows are interleaved instead (InterleavedGemm.InterleaveKQuant;
        // 148 and 212 bytes per 256 weights) and every token takes vpdpbusd.
        if (InterleavedGemm.SuitsKQuant(w)) return w.WithInterleaved(Keep(InterleavedGemm.InterleaveKQuant(w)), InterleavedLayout.ColumnQuads);
        if (w.Type == GgmlType.Q4_K && KQuantDot.HasKernels) return w.WithPacked(Keep(KQuantDot.Repack(w)));
        if (!BlockScales.Applies(w.Type)) return w;
        w = w.WithScales(Keep(BlockScales.Create(w)));
        // Q8_0/Q4_0 matrices in whole groups of 16 rows get their values interleaved by column pairs (instead of the
        // packed copy, the same size) and their f16 scales grouped, 2 more bytes per 32 weights: every token then
        // takes 16-bit multiply-adds, which ran (Q8_0, one thread, kernel alone) 1.3-1.6x the int8 dots for one token
        // and 1.5-1.9x the float GEMM for 16-128 tokens.
        // Where the processor has AVX512-VNNI the copy is laid out by column quads for the machine-code kernels
        // (InterleavedVnni): the same bits, about twice the multiply-adds per cycle once several tokens share a row.
        if (InterleavedGemm.Suits(w))
        {
            var layout = InterleavedGemm.PreferredLayout;
            return w.WithGroupScales(Keep(BlockScales.Group(w))).WithInterleaved(Keep(InterleavedGemm.Interleave(w, layout)), layout);
        }
        // Q4_0/Q8_0 payloads are also packed apart from their scales when the grouped AVX-512 kernels read them:
        // one 64-byte load per group of blocks instead of four loads and three inserts, and fewer bytes per decode
        // step. Measured single-token decode on the 1.1B shape: Q4_0 +16-21%, Q8_0 +12%; the 135M shape's 576-column
        // rows (a partial last group) -18% time per row for Q4_0 at two threads (in-process, 49152 x 576). The
        // original rows are then read only for embedding lookups, so their file pages can leave memory.
        if (w.Type is GgmlType.Q4_0 or GgmlType.Q8_0 && IntegerDot.HasGroupedQ4_0)
            w = w.WithPacked(Keep(BlockScales.Pack(w)));
        return w;
    }

    private T* Keep<T>(T* table) where T : unmanaged
    {
        _tables.Add((nint)table);
        return table;
    }

    public void Dispose()
    {
        foreach (nint table in _tables) BlockScales.Free((void*)table);
        _tables.Clear();
    }
}
