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
# zmm0-31) plus rbx, which is saved.

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

# The block's eight weight quads into zmm0-7: quad q holds columns 4q..4q+3 of the 16 rows, byte 4i+j row i.
.macro LOAD_WEIGHTS q4
.if \q4
        # 4 x 64 bytes: chunk c holds quad c in its low nibbles and quad c + 4 in its high nibbles.
        vmovdqu64   zmm0, [r8]
        vmovdqu64   zmm1, [r8 + 64]
        vmovdqu64   zmm2, [r8 + 128]
        vmovdqu64   zmm3, [r8 + 192]
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

# n tokens (1..8) of one chunk over all blocks of the group; rsi counts the call's tokens left.
.macro CHUNK n, q4, shift, blockBytes, name
\name\()_chunk\n:
.irp i, 16, 17, 18, 19, 20, 21, 22, 23
.if \i - 16 < \n
        vpxord      zmm\i, zmm\i, zmm\i
.endif
.endr
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
        cmp         rsi, 8
        jae         \name\()_chunk8
        cmp         rsi, 7
        je          \name\()_chunk7
        cmp         rsi, 6
        je          \name\()_chunk6
        cmp         rsi, 5
        je          \name\()_chunk5
        cmp         rsi, 4
        je          \name\()_chunk4
        cmp         rsi, 3
        je          \name\()_chunk3
        cmp         rsi, 2
        je          \name\()_chunk2
        cmp         rsi, 1
        je          \name\()_chunk1
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
