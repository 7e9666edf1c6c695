; Memory-heavy loop: per outer iteration, 4096 x (load, add, store, inc, cmp, jb) over two 32 KiB
; arrays, plus 3 instructions of outer loop: 24579 instructions.
%include "bench.inc"
bench_main:
    mov rbx, [count]
    mov rsi, 0x200000
    mov rdi, 0x300000
.outer:
    xor ecx, ecx
.inner:
    mov rax, [rsi + rcx * 8]
    add rax, rcx
    mov [rdi + rcx * 8], rax
    inc ecx
    cmp ecx, 4096
    jb .inner
    dec rbx
    jnz .outer
    jmp bench_exit
