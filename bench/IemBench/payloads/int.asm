; Tight integer loop: 4 instructions per iteration (ADD, XOR, DEC, JNZ).
%include "bench.inc"
bench_main:
    mov rcx, [count]
    mov eax, 1
    mov ebx, 2
.l: add eax, ebx
    xor ebx, eax
    dec rcx
    jnz .l
    jmp bench_exit
