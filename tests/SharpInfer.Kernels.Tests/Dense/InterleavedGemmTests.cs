using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Reference;
using SharpInfer.Kernels.Tests.Quantization;
using SharpInfer.Kernels.Threading;
using Xunit.Abstractions;

namespace SharpInfer.Kernels.Tests.Dense;

/// <summary>
/// The 16-bit multiply-add kernels of interleaved Q8_0 and Q4_0 matrices (<see cref="InterleavedGemm"/>): the
/// interleaved copy holds each row's values, products match a float64 reference of the same quantized weights and
/// activations, and a token's bits do not depend on the batch, the thread count, the token group or the decode mode.
/// </summary>
public unsafe class InterleavedGemmTests(ITestOutputHelper output)
{
    /// <summary>A Q8_0 or Q4_0 matrix with the tables the model builds: scale table, grouped scales, interleaved
    /// copy; and the same matrix with a packed copy instead (the int8 dot products).</summary>
    private sealed class QMatrix : IDisposable
    {
        private readonly byte[] _data;
        private readonly GCHandle _pin;
        private readonly float* _scales;
        private readonly ushort* _grouped;
        private readonly byte* _packed, _interleaved, _quads;
        public readonly WeightMatrix Plain;       // only the stored blocks
        public readonly WeightMatrix Interleaved; // takes InterleavedGemm's managed 16-bit kernels (column pairs)
        public readonly WeightMatrix Quads;       // takes its VNNI kernels (column quads), where they run
        public readonly WeightMatrix Packed;      // the same values through IntegerDot

        public QMatrix(GgmlType type, int rows, int cols, int seed)
        {
            var values = QuantizationTests.RandomValues(rows * cols, seed, 2f);
            long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            _data = GC.AllocateArray<byte>((int)(rows * rowBytes), pinned: true);
            for (int r = 0; r < rows; r++) Quantize.Row(type, values.AsSpan(r * cols, cols), _data.AsSpan((int)(r * rowBytes), (int)rowBytes));
            _pin = GCHandle.Alloc(_data, GCHandleType.Pinned);
            Plain = new WeightMatrix((byte*)_pin.AddrOfPinnedObject(), type, rows, cols);
            _scales = BlockScales.Create(Plain);
            var w = Plain.WithScales(_scales);
            _packed = BlockScales.Pack(w);
            Packed = w.WithPacked(_packed);
            if (rows % InterleavedGemm.GroupRows == 0)
            {
                _interleaved = InterleavedGemm.Interleave(w, InterleavedLayout.ColumnPairs);
                _quads = InterleavedGemm.Interleave(w, InterleavedLayout.ColumnQuads);
                _grouped = BlockScales.Group(w);
                Interleaved = w.WithGroupScales(_grouped).WithInterleaved(_interleaved, InterleavedLayout.ColumnPairs);
                Quads = w.WithGroupScales(_grouped).WithInterleaved(_quads, InterleavedLayout.ColumnQuads);
            }
        }

        public WeightMatrix Layout(InterleavedLayout layout) => layout == InterleavedLayout.ColumnQuads ? Quads : Interleaved;

        public void Dispose()
        {
            BlockScales.Free(_scales); BlockScales.Free(_packed); BlockScales.Free(_grouped); BlockScales.Free(_interleaved); BlockScales.Free(_quads);
            _pin.Free();
        }
    }

    private static float[] Run(WeightMatrix w, float[] x, int first, int count, int threads, int gemv = -1, bool decodeTakesTile = false)
    {
        using var pool = new WorkerPool(threads);
        var y = GC.AllocateArray<float>(count * w.Rows, pinned: true);
        fixed (float* xp = x) fixed (float* yp = y)
            new MatMul(pool) { MatrixVectorTokensTakeTile = decodeTakesTile }.Run(w, xp + (long)first * w.Columns, yp, count, gemv);
        return y;
    }

    private static float[] Activations(int tokens, int cols, int seed)
    {
        var x = GC.AllocateArray<float>(tokens * cols, pinned: true);
        QuantizationTests.RandomValues(tokens * cols, seed, 1.5f).CopyTo(x, 0);
        return x;
    }

    private static void AssertSameBits(float[] expected, int expectedOffset, float[] actual, int actualOffset, int count, string what)
    {
        for (int i = 0; i < count; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[expectedOffset + i]) == BitConverter.SingleToInt32Bits(actual[actualOffset + i]),
                $"{what}: element {i}: {actual[actualOffset + i]:R} != {expected[expectedOffset + i]:R}");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void OnlyMatricesOfWholeGroupsWithTheirCopyTakeIt(GgmlType type)
    {
        using var m = new QMatrix(type, 48, 576, 1);
        Assert.Equal(Avx512BW.IsSupported, InterleavedGemm.Suits(m.Packed));
        Assert.Equal(Avx512BW.IsSupported, InterleavedGemm.Applies(m.Interleaved));
        Assert.False(InterleavedGemm.Applies(m.Packed)); // no interleaved copy: the int8 dots
        Assert.False(InterleavedGemm.Suits(m.Plain));    // no scale table
        using var odd = new QMatrix(type, 40, 64, 2);
        Assert.False(InterleavedGemm.Suits(odd.Packed));
        Assert.Throws<ArgumentException>(() => InterleavedGemm.Interleave(odd.Packed));
        using var f16 = new QMatrix(GgmlType.Q8_0, 16, 64, 3);
        Assert.False(InterleavedGemm.Suits(new WeightMatrix(f16.Plain.Data, GgmlType.F16, 16, 32))); // not a block type
    }

    /// <summary>
    /// Column pairs: Q8_0 pair vector p of a block is 32 int8 at byte 32 p; Q4_0: chunk c's bytes hold pair vector c in
    /// their low nibbles and c + 8 in their high nibbles. Column quads: Q8_0 quad vector q is 64 bytes at byte 64 q
    /// holding the values + 128; Q4_0: chunk c's bytes hold quad c in their low nibbles and quad c + 4 in their high
    /// nibbles. Either way row i of a group sits at byte width * i of a vector.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q4_0, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q8_0, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q4_0, InterleavedLayout.ColumnQuads)]
    public void TheCopyHoldsEachRowsValuesByColumnPairsOrQuads(GgmlType type, InterleavedLayout layout)
    {
        if (!Avx512BW.IsSupported) return;
        const int rows = 32, cols = 96;
        using var m = new QMatrix(type, rows, cols, 3);
        int blocks = cols / 32, blockBytes = GgmlTypeInfo.BlockBytes(type);
        int width = layout == InterleavedLayout.ColumnQuads ? 4 : 2, vectors = 32 / width, vectorBytes = 16 * width;
        byte* copy = m.Layout(layout).Interleaved;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++)
            {
                byte* values = m.Plain.Data + (long)r * m.Plain.RowBytes + k / 32 * blockBytes + 2;
                int g = r / 16, i = r % 16, b = k / 32, v = k % 32 / width, j = k % width, expected, actual;
                if (type == GgmlType.Q8_0)
                {
                    expected = (sbyte)values[k % 32];
                    byte stored = copy[((g * blocks + b) * vectors + v) * vectorBytes + width * i + j];
                    actual = layout == InterleavedLayout.ColumnQuads ? stored - 128 : (sbyte)stored;
                }
                else
                {
                    expected = k % 32 < 16 ? values[k % 32] & 0x0F : values[k % 32 - 16] >> 4;
                    byte packed = copy[(g * blocks + b) * 256 + v % (vectors / 2) * vectorBytes + width * i + j];
                    actual = v < vectors / 2 ? packed & 0x0F : packed >> 4;
                }
                Assert.True(expected == actual, $"{type} {layout} row {r} column {k}: copy {actual}, stored {expected}");
            }
        for (int g = 0; g < rows / 16; g++) // grouped scales: the 16 rows of a group side by side per block
            for (int b = 0; b < blocks; b++)
                for (int i = 0; i < 16; i++)
                    Assert.Equal(m.Packed.Scales[(g * 16 + i) * blocks + b], HalfConvert.ToSingle(m.Interleaved.GroupScales[(g * blocks + b) * 16 + i]));
    }

    /// <summary>
    /// The VNNI kernels run wherever the processor reports AVX512-VNNI on Linux x64 (unless switched off), so that a
    /// failure to map them shows here instead of as a silent fall back to the slower kernels. And the committed bytes
    /// are those of the committed assembly source (checked where GNU as is installed, as on the reference machine).
    /// </summary>
    [Fact]
    public void TheVnniKernelsRunWhereTheProcessorHasThemAndMatchTheirSource()
    {
        bool vnni = Avx512BW.IsSupported && X86Base.IsSupported && (X86Base.CpuId(7, 0).Ecx & (1 << 11)) != 0;
        bool expected = vnni && OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64
            && Environment.GetEnvironmentVariable("SHARPINFER_NATIVE_KERNELS") != "0";
        output.WriteLine($"AVX512-VNNI: {vnni}; quad kernels: {InterleavedGemm.HasQuadKernels} ({InterleavedGemm.QuadKernelsUnavailable ?? "running"})");
        Assert.True(expected == InterleavedGemm.HasQuadKernels, $"expected the VNNI kernels to be {(expected ? "available" : "off")}: {InterleavedGemm.QuadKernelsUnavailable}");
        Assert.Equal(expected ? InterleavedLayout.ColumnQuads : InterleavedLayout.ColumnPairs, InterleavedGemm.PreferredLayout);
        string root = RepositoryRoot();
        if (!File.Exists("/usr/bin/as") && !File.Exists("/usr/local/bin/as"))
        {
            // .ci/run installs binutils; on a developer machine without it the check is left out.
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "GNU as (binutils) is missing: the committed machine code cannot be checked against its source");
            output.WriteLine("GNU as not installed: source check skipped");
            return;
        }
        var check = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash", ["tools/assemble-native.sh", "--check"])
            { WorkingDirectory = root, RedirectStandardError = true, RedirectStandardOutput = true })!;
        string errors = check.StandardError.ReadToEnd();
        check.WaitForExit();
        Assert.True(check.ExitCode == 0, $"tools/assemble-native.sh --check: {errors}");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "tools", "assemble-native.sh"))) return dir.FullName;
        throw new InvalidOperationException("repository root (tools/assemble-native.sh) not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// The VNNI kernels give the 16-bit kernels' bits exactly, for every token count 1..19 (chunks of 8 and every
    /// remainder), at 576 and 2048 columns, on one and two threads: both sum each block exactly in int32 and do the
    /// same float operations in the same order.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 576)]
    [InlineData(GgmlType.Q8_0, 2048)]
    [InlineData(GgmlType.Q4_0, 576)]
    [InlineData(GgmlType.Q4_0, 2048)]
    public void TheVnniKernelsGiveTheSixteenBitKernelsBits(GgmlType type, int cols)
    {
        if (!InterleavedGemm.HasQuadKernels) { output.WriteLine($"no VNNI kernels here: {InterleavedGemm.QuadKernelsUnavailable}"); return; }
        const int rows = 48, tokens = 19;
        using var m = new QMatrix(type, rows, cols, 21);
        var x = Activations(tokens, cols, 22);
        for (int count = 1; count <= tokens; count++)
            foreach (int threads in new[] { 1, 2 })
            {
                var pairs = Run(m.Interleaved, x, tokens - count, count, threads);
                var quads = Run(m.Quads, x, tokens - count, count, threads);
                AssertSameBits(pairs, 0, quads, 0, count * rows, $"{type} {cols} columns, {count} tokens, {threads} threads");
            }
    }

    /// <summary>
    /// 576 columns (18 blocks) and 2048 (64); 48 rows on two threads: items of whole groups; 19 tokens: groups of 8,
    /// 8 and 3. Against a float64 reference of the same dequantized weights and the same int8 activations; both layouts.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 48, 576, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q8_0, 32, 2048, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q4_0, 48, 576, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q4_0, 32, 2048, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q8_0, 48, 576, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q8_0, 32, 2048, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q4_0, 48, 576, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q4_0, 32, 2048, InterleavedLayout.ColumnQuads)]
    // Copies of 2.2 and 2.4 MB: whole huge pages and a tail in small ones (HugePages.AllocCopy).
    [InlineData(GgmlType.Q8_0, 64, 32768, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q4_0, 128, 32768, InterleavedLayout.ColumnPairs)]
    public void ProductsMatchTheReferenceOfTheSameQuantization(GgmlType type, int rows, int cols, InterleavedLayout layout)
    {
        if (!Avx512BW.IsSupported) return; // the loader builds no interleaved copy without AVX-512BW
        if (layout == InterleavedLayout.ColumnQuads && !InterleavedGemm.HasQuadKernels) return;
        const int tokens = 19;
        using var m = new QMatrix(type, rows, cols, 5);
        var x = Activations(tokens, cols, 6);
        var y = Run(m.Layout(layout), x, 0, tokens, threads: 2);
        var reference = ReferenceKernels.Gemm(m.Plain, x, tokens, quantizeActivations: true);
        var fullPrecision = ReferenceKernels.Gemm(m.Plain, x, tokens);
        double maxRef = 0, maxErr = 0, maxFull = 0;
        for (int i = 0; i < y.Length; i++)
        {
            maxRef = Math.Max(maxRef, Math.Abs(reference[i]));
            maxErr = Math.Max(maxErr, Math.Abs(y[i] - reference[i]));
            maxFull = Math.Max(maxFull, Math.Abs(y[i] - fullPrecision[i]));
        }
        output.WriteLine($"{type} {layout} {rows} x {cols}, {tokens} tokens: max |out - ref| {maxErr:E2} ({maxErr / maxRef:E2} of max |ref|); against full-precision activations {maxFull:E2} ({maxFull / maxRef:E2})");
        Assert.True(maxErr <= 1e-4 * maxRef, $"max |out - ref| {maxErr:E3} > 1e-4 * max |ref| {maxRef:E3}");
        Assert.True(maxFull > maxErr, "int8 activations should be further from the full-precision products than from their own reference");
    }

    /// <summary>
    /// The same tokens in GEMMs of every size 1..8 and larger, on one or two threads, as the engine's decode tokens
    /// (gemvTokens) in either decode mode: always the same bits. And the kernels really ran: the int8 dot products of
    /// the packed copy sum in another order, so some bits differ.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q4_0, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q8_0, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q4_0, InterleavedLayout.ColumnQuads)]
    public void ATokensBitsDoNotDependOnTheBatchTheThreadsOrTheDecodeMode(GgmlType type, InterleavedLayout layout)
    {
        if (!Avx512BW.IsSupported) return;
        if (layout == InterleavedLayout.ColumnQuads && !InterleavedGemm.HasQuadKernels) return;
        const int rows = 64, cols = 576, tokens = 21;
        using var m = new QMatrix(type, rows, cols, 7);
        var x = Activations(tokens, cols, 8);
        var w = m.Layout(layout);
        var all = Run(w, x, 0, tokens, threads: 2);
        foreach (var (first, count) in new[] { (0, 1), (1, 2), (3, 3), (6, 4), (10, 5), (15, 6), (2, 7), (13, 8), (4, 9), (5, 16) })
        {
            var part = Run(w, x, first, count, threads: 1);
            AssertSameBits(all, first * rows, part, 0, count * rows, $"tokens {first}..{first + count - 1} as a GEMM of {count}");
        }
        foreach (bool decodeTakesTile in new[] { false, true })
        {
            var decode = Run(w, x, 0, tokens, threads: 2, gemv: 5, decodeTakesTile: decodeTakesTile);
            AssertSameBits(all, 0, decode, 0, tokens * rows, $"five decode tokens first, decode on the tile: {decodeTakesTile}");
        }
        var integerDots = Run(m.Packed, x, 0, 3, threads: 1); // three tokens: the int8 matrix-vector path
        int differing = 0;
        for (int i = 0; i < 3 * rows; i++) differing += BitConverter.SingleToInt32Bits(all[i]) != BitConverter.SingleToInt32Bits(integerDots[i]) ? 1 : 0;
        Assert.True(differing > 0, "the interleaved matrix gave the int8 dot products' bits everywhere: its kernels did not run");
    }

    /// <summary>
    /// The kernels convert the stored f16 scales themselves. Rows 0, 3, ...: every block scale set to zero over nonzero
    /// values (a wrong conversion of zero shows); rows 1, 4, ...: weights of ~1e-4, whose scale is an f16 subnormal;
    /// rows 2, 5, ...: the stored scale's sign flipped (a negative scale, which Q4_0's quantizer also writes).
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void ZeroSubnormalAndNegativeScalesConvertExactly(GgmlType type)
    {
        if (!Avx512BW.IsSupported) return;
        const int rows = 16, cols = 128, tokens = 3;
        using var m = new QMatrix(type, rows, cols, 11);
        var values = QuantizationTests.RandomValues(rows * cols, 12, 1f);
        for (int i = 0; i < values.Length; i++) if (i / cols % 3 == 1) values[i] *= 1e-4f;
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        for (int r = 0; r < rows; r++)
        {
            Quantize.Row(type, values.AsSpan(r * cols, cols), new Span<byte>(m.Plain.Data + r * rowBytes, (int)rowBytes));
            for (int b = 0; b < cols / 32; b++)
            {
                ushort* scale = (ushort*)(m.Plain.Data + r * rowBytes + b * blockBytes);
                if (r % 3 == 0) *scale = 0;
                else if (r % 3 == 2) *scale ^= 0x8000;
            }
        }
        ushort subnormal = *(ushort*)(m.Plain.Data + rowBytes); // row 1, block 0
        Assert.True((subnormal & 0x7c00) == 0 && (subnormal & 0x3ff) != 0, $"row 1's scale {subnormal:x4} should be an f16 subnormal");
        using var weights = new PreparedWeights();
        var w = weights.Prepare(m.Plain);
        Assert.True(InterleavedGemm.Applies(w));
        Assert.Equal(InterleavedGemm.PreferredLayout, w.InterleavedLayout); // the loader's layout: the VNNI kernels where they run
        var x = Activations(tokens, cols, 13);
        var y = Run(w, x, 0, tokens, threads: 1);
        var reference = ReferenceKernels.Gemm(m.Plain, x, tokens, quantizeActivations: true);
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double expected = reference[t * rows + r], actual = y[t * rows + r];
                if (r % 3 == 0) Assert.True(actual == 0, $"zero-scale row {r}: {actual}");
                else Assert.True(Math.Abs(actual - expected) <= 1e-5 * Math.Abs(expected) && Math.Sign(actual) == Math.Sign(expected),
                    $"token {t} row {r}: {actual:E6} against {expected:E6}");
            }
    }

    /// <summary>
    /// An inf or NaN block scale (no quantizer writes one) keeps the matrix off the interleaved kernels, whose scale
    /// conversion covers finite halves only: the int8 dot products read the exact float table and give inf/NaN.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, (ushort)0x7c00)]
    [InlineData(GgmlType.Q4_0, (ushort)0x7e00)]
    public void AnInfOrNaNScaleKeepsTheMatrixOnTheIntegerDots(GgmlType type, ushort special)
    {
        using var m = new QMatrix(type, 16, 64, 14);
        *(ushort*)(m.Plain.Data + 5 * GgmlTypeInfo.RowBytes(type, 64)) = special; // row 5, block 0
        using var weights = new PreparedWeights();
        var w = weights.Prepare(m.Plain);
        Assert.False(InterleavedGemm.Applies(w));
        var y = Run(w, Activations(1, 64, 15), 0, 1, threads: 1);
        Assert.False(float.IsFinite(y[5]), $"row 5 with scale {special:x4}: {y[5]}");
        Assert.True(float.IsFinite(y[4]));
    }

    /// <summary>
    /// A call that groups an interleaved matrix with one that is not (40 rows: no whole groups): the interleaved one
    /// still sends every token through its 16-bit kernel (each matrix decides for itself), the other sends only the
    /// decode tokens through the integer path, and float activations take the float path; either way the products
    /// match their reference and a decode token's bits do not depend on the prompt tokens behind it.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, false, true, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q8_0, true, true, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q4_0, false, true, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q4_0, true, false, InterleavedLayout.ColumnPairs)]
    [InlineData(GgmlType.Q8_0, false, true, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q8_0, true, true, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q4_0, false, true, InterleavedLayout.ColumnQuads)]
    [InlineData(GgmlType.Q4_0, true, false, InterleavedLayout.ColumnQuads)]
    public void MixedCallsAndFloatActivationsStayCorrectAndBatchInvariant(GgmlType type, bool decodeTakesTile, bool quantizeActivations, InterleavedLayout layout)
    {
        if (layout == InterleavedLayout.ColumnQuads && !InterleavedGemm.HasQuadKernels) return;
        const int cols = 576, tokens = 7, decode = 3;
        using var a = new QMatrix(type, 48, cols, 16);
        using var b = new QMatrix(type, 40, cols, 17);
        var x = Activations(tokens, cols, 18);
        float[] Call(int first, int count, int gemv)
        {
            using var pool = new WorkerPool(2);
            var ya = GC.AllocateArray<float>(count * 48, pinned: true);
            var yb = GC.AllocateArray<float>(count * 40, pinned: true);
            fixed (float* xp = x) fixed (float* yap = ya) fixed (float* ybp = yb)
                new MatMul(pool) { MatrixVectorTokensTakeTile = decodeTakesTile, QuantizeActivations = quantizeActivations }
                    .Run(a.Layout(layout), yap, b.Packed, ybp, xp + (long)first * cols, count, gemv);
            return ya;
        }
        var all = Call(0, tokens, decode);
        var quantized = ReferenceKernels.Gemm(a.Plain, x, tokens, quantizeActivations: true);
        var exact = ReferenceKernels.Gemm(a.Plain, x, tokens);
        double maxRef = exact.Max(Math.Abs);
        for (int t = 0; t < tokens; t++)
        {
            // The interleaved matrix: integer arithmetic for every token with int8 activations, exact float without.
            var reference = quantizeActivations ? quantized : exact;
            for (int r = 0; r < 48; r++)
                Assert.True(Math.Abs(all[t * 48 + r] - reference[t * 48 + r]) <= 1e-4 * maxRef, $"token {t} row {r}: {all[t * 48 + r]} against {reference[t * 48 + r]}");
        }
        for (int t = 0; t < decode; t++)
            AssertSameBits(Call(t, 1, 1), 0, all, t * 48, 48, $"decode token {t} alone");
    }

    [Fact]
    public void RunRejectsRowsThatAreNotWholeGroups()
    {
        if (!Avx512BW.IsSupported) return;
        using var m = new QMatrix(GgmlType.Q8_0, 32, 64, 9);
        var y = new float[32];
        var x16 = new short[64];
        var xd = new float[2];
        var xs = new int[2];
        fixed (float* yp = y, xdp = xd) fixed (short* xp = x16) fixed (int* xsp = xs)
        {
            var w = m.Interleaved;
            float* ypp = yp; short* xpp = xp; float* xdpp = xdp; int* xspp = xsp;
            Assert.Throws<ArgumentException>(() => InterleavedGemm.Run(w, 8, 32, xpp, xdpp, xspp, 1, ypp, 32));
            Assert.Throws<InvalidOperationException>(() => InterleavedGemm.Run(m.Packed, 0, 32, xpp, xdpp, xspp, 1, ypp, 32));
            if (InterleavedGemm.HasQuadKernels)
            {
                var q = m.Quads;
                Assert.Throws<InvalidOperationException>(() => InterleavedGemm.Run(q, 0, 32, xpp, xdpp, xspp, 1, ypp, 32)); // the wrong layout for these kernels
                Assert.Throws<InvalidOperationException>(() => InterleavedGemm.RunQuads(w, 0, 32, null, null, null, 1, ypp, 32));
                Assert.Throws<ArgumentException>(() => InterleavedGemm.RunQuads(q, 8, 32, null, null, null, 1, ypp, 32));
            }
        }
    }
}
