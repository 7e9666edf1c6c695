; Fused flag-setter + Jcc pairs (CMP/TEST/SUB/AND/INC/DEC in register forms, 8/32/64-bit, every
; condition) must branch exactly as the unfused flags say: each pair's decisions are counted once
; through Jcc (fused by IEM) and once through SETcc (never fused), over pseudo-random operands.
; EXPECT: fusion: all conditions agree
%include "common.inc"
%include "lm64.inc"

%define ITER 2000

; TRY setter-instruction(s), cc: counts the Jcc decision into r14 and the SETcc decision into r15.
%macro TRY 2
    mov rax, r8
    mov rbx, r9
    %1
    j%+2 %%taken
    jmp %%done
%%taken:
    inc r14
%%done:
    mov rax, r8
    mov rbx, r9
    %1
    set%+2 cl
    movzx rcx, cl
    add r15, rcx
%endmacro

%macro ALLCC 1
    TRY {%1}, o
    TRY {%1}, no
    TRY {%1}, b
    TRY {%1}, ae
    TRY {%1}, z
    TRY {%1}, nz
    TRY {%1}, be
    TRY {%1}, a
    TRY {%1}, s
    TRY {%1}, ns
    TRY {%1}, p
    TRY {%1}, np
    TRY {%1}, l
    TRY {%1}, ge
    TRY {%1}, le
    TRY {%1}, g
%endmacro

lm_main:
    xor r14, r14
    xor r15, r15
    mov r10, 0x123456789ABCDEF1            ; LCG state
    mov r11, ITER
.loop:
    ; next operands (small values often, so equal/zero cases happen)
    mov rax, 6364136223846793005
    imul r10, rax
    add r10, 1442695040888963407
    mov r8, r10
    mov r9, r10
    ror r9, 29
    test r10b, 3
    jnz .big
    and r8, 7
    and r9, 7
.big:
    ALLCC {cmp rax, rbx}
    ALLCC {cmp eax, ebx}
    ALLCC {cmp al, bl}
    ALLCC {cmp rbx, rax}
    ALLCC {db 0x48, 0x3B, 0xC3}            ; cmp rax, rbx with the Gv,Ev encoding
    ALLCC {cmp eax, 5}
    ALLCC {cmp rax, -3}
    ALLCC {cmp al, 0x80}
    ALLCC {test rax, rbx}
    ALLCC {test eax, 0x80000001}
    ALLCC {test al, bl}
    ALLCC {sub rax, rbx}
    ALLCC {sub eax, 1}
    ALLCC {and rax, rbx}
    ALLCC {and eax, 0xF0}
    ALLCC {inc rax}
    ALLCC {dec eax}
    ALLCC {dec al}
    dec r11
    jnz .loop
    cmp r14, r15
    CHECK e, "a fused Jcc disagreed with SETcc"
    PRINTLN "fusion: all conditions agree"
    EXIT 0
