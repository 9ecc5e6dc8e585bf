# Interleaved Q8_0 / Q4_0 groups of 16 rows times int8 activations with AVX-512 VNNI (vpdpbusd).
#
# .NET 10 has no API for AVX512-VNNI (only the VEX AVX-VNNI, which Zen 4 lacks), and without it a multiply-add of
# int8 values costs a 16-bit vpmaddwd plus a vpaddd per 32 products; vpdpbusd does 64 in one instruction. This file
# is assembled by tools/assemble-native.sh into InterleavedVnniCode.g.cs, whose bytes InterleavedVnni maps
# executable and calls. It computes exactly what InterleavedGemm's managed 16-bit kernels compute, bit for bit
# (the tests compare them): per block an exact int32 sum, then f = fma(float(sum), d_w * d_x, f) in block order.
#
# One call: one group of 16 rows (see InterleavedVnni.Call for the fields), every token of the call, in chunks
# of up to 8 tokens whose accumulators stay in registers. vpdpbusd multiplies unsigned bytes (the weights) by
# signed bytes (the activations, one 4-byte quad broadcast to all 16 rows), so the weights are stored offset:
# Q8_0 as w + 128, Q4_0 as its nibbles (w + 8); each block's sum starts at -offset x (the activation block's sum).
#
# System V x86-64, one argument: rdi = const Call*. Only volatile registers are written (rax, rcx, rdx, rsi, r8-r11,
# zmm0-31) plus rbx (and r13 in the Q6_K kernel), which are saved.

        .intel_syntax noprefix
        .text

        .set W,        0    # the group's weights: blocks x BLOCK_BYTES
        .set S,        8    # the group's f16 block scales: blocks x 16
        .set X,        16   # activations by chunk: [chunks][blocks][8 tokens][32] int8
        .set NS,       24   # negated block sums of the activations: [chunks][blocks][8] int32
        .set XD,       32   # activation block scales: [chunks][blocks][8] float
        .set Y,        40   # the first token's 16 outputs
        .set YSTRIDE,  48   # bytes from one token's outputs to the next's
        .set BLOCKS,   56
        .set TOKENS,   64
        .set PREFETCH, 72   # the next group's weights (requested into L2 during the first chunk), or 0

# Token t of the chunk against the block's eight weight quads zmm0-7: int32 sum in zmm(24+t), float result in zmm(16+t).
.macro TOKEN t, acc, f, shift
        vpbroadcastd \acc, dword ptr [r11 + 4*\t]
        vpslld      \acc, \acc, \shift
        vpdpbusd    \acc, zmm0, dword ptr [r10 + 32*\t + 0]{1to16}
        vpdpbusd    \acc, zmm1, dword ptr [r10 + 32*\t + 4]{1to16}
        vpdpbusd    \acc, zmm2, dword ptr [r10 + 32*\t + 8]{1to16}
        vpdpbusd    \acc, zmm3, dword ptr [r10 + 32*\t + 12]{1to16}
        vpdpbusd    \acc, zmm4, dword ptr [r10 + 32*\t + 16]{1to16}
        vpdpbusd    \acc, zmm5, dword ptr [r10 + 32*\t + 20]{1to16}
        vpdpbusd    \acc, zmm6, dword ptr [r10 + 32*\t + 24]{1to16}
        vpdpbusd    \acc, zmm7, dword ptr [r10 + 32*\t + 28]{1to16}
        vmulps      zmm10, zmm8, dword ptr [rax + 4*\t]{1to16}
        vcvtdq2ps   \acc, \acc
        vfmadd231ps \f, \acc, zmm10
.endm

# 4 x 64 bytes at \base as eight quad vectors zmm0-7: chunk c holds quad c in its low nibbles and quad c + 4 in its
# high nibbles (zmm9 = 0x0F in every byte).
.macro NIBBLE_QUADS base
        vmovdqu64   zmm0, [\base]
        vmovdqu64   zmm1, [\base + 64]
        vmovdqu64   zmm2, [\base + 128]
        vmovdqu64   zmm3, [\base + 192]
        vpsrlw      zmm4, zmm0, 4
        vpsrlw      zmm5, zmm1, 4
        vpsrlw      zmm6, zmm2, 4
        vpsrlw      zmm7, zmm3, 4
        vpandd      zmm0, zmm0, zmm9
        vpandd      zmm1, zmm1, zmm9
        vpandd      zmm2, zmm2, zmm9
        vpandd      zmm3, zmm3, zmm9
        vpandd      zmm4, zmm4, zmm9
        vpandd      zmm5, zmm5, zmm9
        vpandd      zmm6, zmm6, zmm9
        vpandd      zmm7, zmm7, zmm9
.endm

# The block's eight weight quads into zmm0-7: quad q holds columns 4q..4q+3 of the 16 rows, byte 4i+j row i.
.macro LOAD_WEIGHTS q4
.if \q4
        NIBBLE_QUADS r8
.else
        vmovdqu64   zmm0, [r8]
        vmovdqu64   zmm1, [r8 + 64]
        vmovdqu64   zmm2, [r8 + 128]
        vmovdqu64   zmm3, [r8 + 192]
        vmovdqu64   zmm4, [r8 + 256]
        vmovdqu64   zmm5, [r8 + 320]
        vmovdqu64   zmm6, [r8 + 384]
        vmovdqu64   zmm7, [r8 + 448]
.endif
.endm

.macro PREFETCH_BLOCK q4
        prefetcht1  [rdx]
        prefetcht1  [rdx + 64]
        prefetcht1  [rdx + 128]
        prefetcht1  [rdx + 192]
.if \q4 == 0
        prefetcht1  [rdx + 256]
        prefetcht1  [rdx + 320]
        prefetcht1  [rdx + 384]
        prefetcht1  [rdx + 448]
.endif
.endm

.macro TOKEN_IF t, n, acc, f, shift
.if \t < \n
        TOKEN \t, \acc, \f, \shift
.endif
.endm

# Token t's 16 outputs; rcx walks the tokens' output rows.
.macro STORE_IF t, n, f
.if \t < \n
        vmovups     [rcx], \f
        add         rcx, [rdi + YSTRIDE]
.endif
.endm

# Zeroes the n accumulators of a chunk starting at zmm\first (16: the float results, 24: the int32 sums).
.macro ZERO_ACCUMULATORS n, first
.if \first == 16
.irp i, 16, 17, 18, 19, 20, 21, 22, 23
.if \i - 16 < \n
        vpxord      zmm\i, zmm\i, zmm\i
.endif
.endr
.else
.irp i, 24, 25, 26, 27, 28, 29, 30, 31
.if \i - 24 < \n
        vpxord      zmm\i, zmm\i, zmm\i
.endif
.endr
.endif
.endm

# Stores a chunk's n float results (zmm16..) to the outputs of its tokens and moves rbx to the next chunk's.
.macro STORE_CHUNK n
        mov         rcx, rbx
        STORE_IF 0, \n, zmm16
        STORE_IF 1, \n, zmm17
        STORE_IF 2, \n, zmm18
        STORE_IF 3, \n, zmm19
        STORE_IF 4, \n, zmm20
        STORE_IF 5, \n, zmm21
        STORE_IF 6, \n, zmm22
        STORE_IF 7, \n, zmm23
        mov         rcx, [rdi + YSTRIDE]
        shl         rcx, 3
        add         rbx, rcx
.endm

# Jumps to the chunk kernel for min(rsi, 8) tokens, or falls through when none are left.
.macro DISPATCH name
        cmp         rsi, 8
        jae         \name\()_chunk8
.irp n, 7, 6, 5, 4, 3, 2, 1
        cmp         rsi, \n
        je          \name\()_chunk\n
.endr
.endm

# n tokens (1..8) of one chunk over all blocks of the group; rsi counts the call's tokens left.
.macro CHUNK n, q4, shift, blockBytes, name
\name\()_chunk\n:
        ZERO_ACCUMULATORS \n, 16
        mov         r8, [rdi + W]
        mov         r9, [rdi + S]
        mov         rcx, [rdi + BLOCKS]
1:
        LOAD_WEIGHTS \q4
        vcvtph2ps   zmm8, ymmword ptr [r9]
        test        rdx, rdx
        jz          2f
        PREFETCH_BLOCK \q4
        add         rdx, \blockBytes
2:
        TOKEN_IF 0, \n, zmm24, zmm16, \shift
        TOKEN_IF 1, \n, zmm25, zmm17, \shift
        TOKEN_IF 2, \n, zmm26, zmm18, \shift
        TOKEN_IF 3, \n, zmm27, zmm19, \shift
        TOKEN_IF 4, \n, zmm28, zmm20, \shift
        TOKEN_IF 5, \n, zmm29, zmm21, \shift
        TOKEN_IF 6, \n, zmm30, zmm22, \shift
        TOKEN_IF 7, \n, zmm31, zmm23, \shift
        add         r8, \blockBytes
        add         r9, 32
        add         r10, 256
        add         r11, 32
        add         rax, 32
        dec         rcx
        jnz         1b
        xor         edx, edx          # the next group was requested during the first chunk
        STORE_CHUNK \n
        sub         rsi, \n
        jmp         \name\()_next
.endm

.macro KERNEL name, q4, shift, blockBytes
        .p2align 6
        .globl \name
\name:
        endbr64
        push        rbx
        mov         ecx, 0x0F0F0F0F
        vpbroadcastd zmm9, ecx
        mov         r10, [rdi + X]
        mov         r11, [rdi + NS]
        mov         rax, [rdi + XD]
        mov         rbx, [rdi + Y]
        mov         rsi, [rdi + TOKENS]
        mov         rdx, [rdi + PREFETCH]
\name\()_next:
        DISPATCH \name
        vzeroupper
        pop         rbx
        ret
        CHUNK 8, \q4, \shift, \blockBytes, \name
        CHUNK 7, \q4, \shift, \blockBytes, \name
        CHUNK 6, \q4, \shift, \blockBytes, \name
        CHUNK 5, \q4, \shift, \blockBytes, \name
        CHUNK 4, \q4, \shift, \blockBytes, \name
        CHUNK 3, \q4, \shift, \blockBytes, \name
        CHUNK 2, \q4, \shift, \blockBytes, \name
        CHUNK 1, \q4, \shift, \blockBytes, \name
.endm

        KERNEL sharpinfer_vnni_q8_0, 0, 7, 512
        KERNEL sharpinfer_vnni_q4_0, 1, 3, 256

# ---------------------------------------------------------------------------------------------------------------------
# Q4_K: one group of 16 rows, super-blocks of 256 columns laid out (InterleavedGemm.InterleaveQ4_K) as
#   [d: 16 f16][dmin: 16 f16][scales: 8 sub-blocks x 16 rows, bytes][mins: the same][nibbles: 8 x 256 bytes]
# (2368 bytes), the nibbles of a sub-block packed like a Q4_0 block above. Activations quantized per super-block
# (one scale per 256 values, ActivationQuantizer.QuantizeSuperBlocks) and chunked like the blocks of 32 above, with
# each 32-value block's sum (not negated) and each super-block's scale per token:
#   y += d * dx * sum_j sc_j * S_j  -  dmin * dx * sum_j m_j * B_j      (S_j = sum q x over sub-block j, B_j = sum x)
# both sums exact in int32 (|S_j| <= 32 * 15 * 127, times sc <= 63, eight of them: < 2^25), then two conversions and
# two FMAs per super-block and token, in this order.
        .set QK_BLOCKS, 56          # super-blocks (the BLOCKS field)
        .set QK_BYTES, 2368

.macro QK_TOKEN t, acc
        vpxord      zmm10, zmm10, zmm10
        vpdpbusd    zmm10, zmm0, dword ptr [r10 + 32*\t + 0]{1to16}
        vpdpbusd    zmm10, zmm1, dword ptr [r10 + 32*\t + 4]{1to16}
        vpdpbusd    zmm10, zmm2, dword ptr [r10 + 32*\t + 8]{1to16}
        vpdpbusd    zmm10, zmm3, dword ptr [r10 + 32*\t + 12]{1to16}
        vpdpbusd    zmm10, zmm4, dword ptr [r10 + 32*\t + 16]{1to16}
        vpdpbusd    zmm10, zmm5, dword ptr [r10 + 32*\t + 20]{1to16}
        vpdpbusd    zmm10, zmm6, dword ptr [r10 + 32*\t + 24]{1to16}
        vpdpbusd    zmm10, zmm7, dword ptr [r10 + 32*\t + 28]{1to16}
        vpmulld     zmm10, zmm10, zmm8
        vpaddd      \acc, \acc, zmm10
.endm

.macro QK_TOKEN_IF t, n, acc
.if \t < \n
        QK_TOKEN \t, \acc
.endif
.endm

# After a super-block's eight sub-blocks: token t's mins term (r11 points at the super-block's first block sums) and
# its two FMAs (rax at the token's super-block scales).
.macro QK_FINISH t, acc, f
        vpxord      zmm10, zmm10, zmm10
.irp j, 0, 1, 2, 3, 4, 5, 6, 7
        vpmovzxbd   zmm13, xmmword ptr [r8 + 64 + 128 + 16*\j]
        vpmulld     zmm13, zmm13, dword ptr [r11 + 32*\j + 4*\t]{1to16}
        vpaddd      zmm10, zmm10, zmm13
.endr
        vmulps      zmm14, zmm11, dword ptr [rax + 4*\t]{1to16}
        vcvtdq2ps   \acc, \acc
        vfmadd231ps \f, \acc, zmm14
        vmulps      zmm14, zmm12, dword ptr [rax + 4*\t]{1to16}
        vcvtdq2ps   zmm10, zmm10
        vfnmadd231ps \f, zmm10, zmm14
.endm

.macro QK_FINISH_IF t, n, acc, f
.if \t < \n
        QK_FINISH \t, \acc, \f
.endif
.endm

# n tokens of one chunk over all super-blocks of the group. r8: the super-block, r9: its sub-block, r10: activation
# values (256 bytes per block of 32), r11: block sums (32 bytes per block of 32), rax: super-block scales (32 bytes
# per super-block), rcx: super-blocks left, rdx: sub-blocks left.
.macro QK_CHUNK n, name
\name\()_chunk\n:
        ZERO_ACCUMULATORS \n, 16
        mov         r8, [rdi + W]
        mov         rcx, [rdi + QK_BLOCKS]
1:
        ZERO_ACCUMULATORS \n, 24
        lea         r9, [r8 + 64 + 256]     # the first sub-block's nibbles
        mov         edx, 8
2:
        NIBBLE_QUADS r9
        mov         rsi, 8
        sub         rsi, rdx                # this sub-block's index j
        shl         rsi, 4
        vpmovzxbd   zmm8, xmmword ptr [r8 + 64 + rsi]   # sc_j of the 16 rows
        QK_TOKEN_IF 0, \n, zmm24
        QK_TOKEN_IF 1, \n, zmm25
        QK_TOKEN_IF 2, \n, zmm26
        QK_TOKEN_IF 3, \n, zmm27
        QK_TOKEN_IF 4, \n, zmm28
        QK_TOKEN_IF 5, \n, zmm29
        QK_TOKEN_IF 6, \n, zmm30
        QK_TOKEN_IF 7, \n, zmm31
        add         r9, 256
        add         r10, 256
        dec         edx
        jnz         2b
        vcvtph2ps   zmm11, ymmword ptr [r8]
        vcvtph2ps   zmm12, ymmword ptr [r8 + 32]
        QK_FINISH_IF 0, \n, zmm24, zmm16
        QK_FINISH_IF 1, \n, zmm25, zmm17
        QK_FINISH_IF 2, \n, zmm26, zmm18
        QK_FINISH_IF 3, \n, zmm27, zmm19
        QK_FINISH_IF 4, \n, zmm28, zmm20
        QK_FINISH_IF 5, \n, zmm29, zmm21
        QK_FINISH_IF 6, \n, zmm30, zmm22
        QK_FINISH_IF 7, \n, zmm31, zmm23
        add         r8, QK_BYTES
        add         r11, 256                # eight blocks of 32 x 32 bytes of sums
        add         rax, 32
        dec         rcx
        jnz         1b
        STORE_CHUNK \n
        sub         qword ptr [rdi + TOKENS], \n
        jmp         \name\()_next
.endm

# Fields as for the kernels above, except: S unused (the scales live in the weights), NS = block sums (not negated),
# XD = [chunks][super-blocks][8] activation scales, BLOCKS = super-blocks, PREFETCH unused. The token count left is
# kept in the Call (TOKENS is decremented): rsi is the sub-block index here.
        .p2align 6
        .globl sharpinfer_vnni_q4_k
sharpinfer_vnni_q4_k:
        endbr64
        push        rbx
        mov         ecx, 0x0F0F0F0F
        vpbroadcastd zmm9, ecx
        mov         r10, [rdi + X]
        mov         r11, [rdi + NS]
        mov         rax, [rdi + XD]
        mov         rbx, [rdi + Y]
sharpinfer_vnni_q4_k_next:
        mov         rsi, [rdi + TOKENS]
        DISPATCH sharpinfer_vnni_q4_k
        vzeroupper
        pop         rbx
        ret
        QK_CHUNK 8, sharpinfer_vnni_q4_k
        QK_CHUNK 7, sharpinfer_vnni_q4_k
        QK_CHUNK 6, sharpinfer_vnni_q4_k
        QK_CHUNK 5, sharpinfer_vnni_q4_k
        QK_CHUNK 4, sharpinfer_vnni_q4_k
        QK_CHUNK 3, sharpinfer_vnni_q4_k
        QK_CHUNK 2, sharpinfer_vnni_q4_k
        QK_CHUNK 1, sharpinfer_vnni_q4_k

# ---------------------------------------------------------------------------------------------------------------------
# Q6_K: one group of 16 rows, super-blocks of 256 columns laid out (InterleavedGemm.InterleaveKQuant) as
#   [scales: 16 sub-blocks x 16 rows, int8][d: 16 f16][32 bytes of padding][8 blocks of 32 columns x (low 4 bits:
#   256 bytes, the Q4_0 quad layout; high 2 bits: 128 bytes)]   (3392 bytes, 53 cache lines)
# In the order the kernel reads it: one stream through memory (low bits, high bits and scales in three regions of
# the super-block made one-token decode read DRAM at about 0.6x the speed).
# The high bits of a block of 32 are two vectors: byte 4 i + j of vector h holds, in bits 2 f .. 2 f + 1, the high
# bits of quad 4 h + f. Activations as for Q4_K, but with -32 x the sum of each 16 values ([chunks][blocks of 32][8
# tokens][2] int32) in place of the block sums:
#   y += d * dx * sum_j sc_j * (S_j - 32 B_j)      (S_j over the 16 values of sub-block j; |.| < 2^28 in int32)
# one conversion and one FMA per super-block and token.
        .set Q6_BYTES, 3392

.macro Q6_TOKEN t, acc
        vpbroadcastd zmm10, dword ptr [r11 + 8*\t]
        vpbroadcastd zmm13, dword ptr [r11 + 8*\t + 4]
        vpdpbusd    zmm10, zmm0, dword ptr [r10 + 32*\t + 0]{1to16}
        vpdpbusd    zmm10, zmm1, dword ptr [r10 + 32*\t + 4]{1to16}
        vpdpbusd    zmm10, zmm2, dword ptr [r10 + 32*\t + 8]{1to16}
        vpdpbusd    zmm10, zmm3, dword ptr [r10 + 32*\t + 12]{1to16}
        vpdpbusd    zmm13, zmm4, dword ptr [r10 + 32*\t + 16]{1to16}
        vpdpbusd    zmm13, zmm5, dword ptr [r10 + 32*\t + 20]{1to16}
        vpdpbusd    zmm13, zmm6, dword ptr [r10 + 32*\t + 24]{1to16}
        vpdpbusd    zmm13, zmm7, dword ptr [r10 + 32*\t + 28]{1to16}
        vpmulld     zmm10, zmm10, zmm8
        vpmulld     zmm13, zmm13, zmm12
        vpaddd      \acc, \acc, zmm10
        vpaddd      \acc, \acc, zmm13
.endm

.macro Q6_TOKEN_IF t, n, acc
.if \t < \n
        Q6_TOKEN \t, \acc
.endif
.endm

.macro Q6_FINISH_IF t, n, acc, f
.if \t < \n
        vmulps      zmm14, zmm11, dword ptr [rax + 4*\t]{1to16}
        vcvtdq2ps   \acc, \acc
        vfmadd231ps \f, \acc, zmm14
.endif
.endm

# High bits of quad (4 h + f) from vector \h: bits 2 f .. 2 f + 1 of each byte moved to bits 4 .. 5, ORed into \w.
.macro Q6_HIGH w, h, f
.if \f == 0
        vpsllw      zmm14, \h, 4
        vpandd      zmm14, zmm14, zmm15
.elseif \f == 1
        vpsllw      zmm14, \h, 2
        vpandd      zmm14, zmm14, zmm15
.elseif \f == 2
        vpandd      zmm14, \h, zmm15
.else
        vpsrlw      zmm14, \h, 2
        vpandd      zmm14, zmm14, zmm15
.endif
        vpord       \w, \w, zmm14
.endm

# r8: the super-block, r9: its block of 32 (low bits, then high bits), r13: its scales (2 x 16 bytes per block),
# r10: activation values, r11: the -32 x sums of 16 (64 bytes per block of 32), rax: super-block scales, rcx:
# super-blocks left, rdx: blocks of 32 left in the super-block.
.macro Q6_CHUNK n, name
\name\()_chunk\n:
        ZERO_ACCUMULATORS \n, 16
        mov         r8, [rdi + W]
        mov         rcx, [rdi + QK_BLOCKS]
1:
        ZERO_ACCUMULATORS \n, 24
        lea         r9, [r8 + 320]
        mov         r13, r8
        mov         edx, 8
2:
        NIBBLE_QUADS r9
        vmovdqu64   zmm10, [r9 + 256]
        vmovdqu64   zmm13, [r9 + 320]
        Q6_HIGH     zmm0, zmm10, 0
        Q6_HIGH     zmm1, zmm10, 1
        Q6_HIGH     zmm2, zmm10, 2
        Q6_HIGH     zmm3, zmm10, 3
        Q6_HIGH     zmm4, zmm13, 0
        Q6_HIGH     zmm5, zmm13, 1
        Q6_HIGH     zmm6, zmm13, 2
        Q6_HIGH     zmm7, zmm13, 3
        vpmovsxbd   zmm8, xmmword ptr [r13]         # the first sub-block's scales (quads 0-3)
        vpmovsxbd   zmm12, xmmword ptr [r13 + 16]   # the second's (quads 4-7)
        Q6_TOKEN_IF 0, \n, zmm24
        Q6_TOKEN_IF 1, \n, zmm25
        Q6_TOKEN_IF 2, \n, zmm26
        Q6_TOKEN_IF 3, \n, zmm27
        Q6_TOKEN_IF 4, \n, zmm28
        Q6_TOKEN_IF 5, \n, zmm29
        Q6_TOKEN_IF 6, \n, zmm30
        Q6_TOKEN_IF 7, \n, zmm31
        add         r9, 384
        add         r13, 32
        add         r10, 256
        add         r11, 64
        dec         edx
        jnz         2b
        vcvtph2ps   zmm11, ymmword ptr [r8 + 256]
        Q6_FINISH_IF 0, \n, zmm24, zmm16
        Q6_FINISH_IF 1, \n, zmm25, zmm17
        Q6_FINISH_IF 2, \n, zmm26, zmm18
        Q6_FINISH_IF 3, \n, zmm27, zmm19
        Q6_FINISH_IF 4, \n, zmm28, zmm20
        Q6_FINISH_IF 5, \n, zmm29, zmm21
        Q6_FINISH_IF 6, \n, zmm30, zmm22
        Q6_FINISH_IF 7, \n, zmm31, zmm23
        add         r8, Q6_BYTES
        add         rax, 32
        dec         rcx
        jnz         1b
        STORE_CHUNK \n
        sub         qword ptr [rdi + TOKENS], \n
        jmp         \name\()_next
.endm

# Fields as for Q4_K, NS = the -32 x sums of 16 values. Saves rbx and r13.
        .p2align 6
        .globl sharpinfer_vnni_q6_k
sharpinfer_vnni_q6_k:
        endbr64
        push        rbx
        push        r13
        mov         ecx, 0x0F0F0F0F
        vpbroadcastd zmm9, ecx
        mov         ecx, 0x30303030
        vpbroadcastd zmm15, ecx
        mov         r10, [rdi + X]
        mov         r11, [rdi + NS]
        mov         rax, [rdi + XD]
        mov         rbx, [rdi + Y]
sharpinfer_vnni_q6_k_next:
        mov         rsi, [rdi + TOKENS]
        DISPATCH sharpinfer_vnni_q6_k
        vzeroupper
        pop         r13
        pop         rbx
        ret
        Q6_CHUNK 8, sharpinfer_vnni_q6_k
        Q6_CHUNK 7, sharpinfer_vnni_q6_k
        Q6_CHUNK 6, sharpinfer_vnni_q6_k
        Q6_CHUNK 5, sharpinfer_vnni_q6_k
        Q6_CHUNK 4, sharpinfer_vnni_q6_k
        Q6_CHUNK 3, sharpinfer_vnni_q6_k
        Q6_CHUNK 2, sharpinfer_vnni_q6_k
        Q6_CHUNK 1, sharpinfer_vnni_q6_k
