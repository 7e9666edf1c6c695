; SIMD benchmark guest: multiboot (a.out kludge) flat binary, 32-bit protected mode.
bits 32
org 0x100000
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 0x00010000
header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header, header, end_of_image, end_of_bss, entry
iterations: dd 1000            ; patched by the harness (offset 32)
workload: dd 0                 ; 0 = SSE2 integer loops, 1 = floating point (x87 + SSE)  (offset 36)
entry:
    mov esp, stack_top
    mov eax, cr0
    and eax, ~(1 << 2)         ; EM off
    or eax, (1 << 1) | (1 << 5); MP, NE
    mov cr0, eax
    mov eax, cr4
    or eax, (1 << 9) | (1 << 10) ; OSFXSR, OSXMMEXCPT
    mov cr4, eax
    ; buffer: 4096 non-zero bytes then a zero
    mov edi, buf
    mov ecx, 4096
    mov al, 'a'
    rep stosb
    mov byte [edi], 0
    mov ebx, [iterations]
    cmp dword [workload], 1
    je fp
outer:
    ; strlen (SSE2, as glibc's)
    mov esi, buf
.scan:
    movdqa xmm1, [esi]
    pxor xmm0, xmm0
    pcmpeqb xmm1, xmm0
    pmovmskb eax, xmm1
    add esi, 16
    test eax, eax
    jz .scan
    ; memcpy 4 KiB with unaligned 16-byte moves
    mov esi, buf
    mov edi, buf2
    mov ecx, 256
.copy:
    movdqu xmm2, [esi]
    movdqu [edi], xmm2
    add esi, 16
    add edi, 16
    dec ecx
    jnz .copy
    dec ebx
    jnz outer
    jmp done
    ; floating point: SSE arithmetic (host stubs with the guest MXCSR) and x87 (host stubs with the guest state)
fp:
    fninit
    fld1
    fld1
    fld1
    movaps xmm0, [ones]
    movaps xmm1, [ones]
    movaps xmm2, [ones]
    movaps xmm3, [ones]
fp_outer:
    mov ecx, 256
.f:
    addps xmm0, xmm1
    mulps xmm2, xmm3
    fadd st0, st1
    fmul st0, st2
    dec ecx
    jnz .f
    dec ebx
    jnz fp_outer
done:
    mov dx, 0xf4
    xor eax, eax
    out dx, al
    hlt
    jmp $
align 16
ones: dd 1.0, 1.0, 1.0, 1.0
align 16
end_of_image:
section .bss
alignb 16
buf: resb 4096 + 16
buf2: resb 4096 + 16
resb 4096
stack_top:
end_of_bss:
