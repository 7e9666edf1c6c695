; A 64-bit ring-3 program, entered directly in ring 3 (the test builds the long-mode state and page
; tables, as a boot loader would; kvm-pvm cannot IRET to ring 3 in its emulated ring 0): a xorshift64
; loop of 4 million rounds with a checkpoint after every million, 8-byte MMIO through a user
; mapping, and port output from ring 3 (IOPL 3).
; EXPECT: mmio64 1122334455667788 55667788
; EXPECT: xorshift 87AF7D85756AED8A
; EXPECT: done
%include "common.inc"
%include "hm16.inc"
bits 64
org 0x8000
user:
    PRINT "mmio64 "
    mov rdi, MMIO_BASE                 ; (a disp32 would sign-extend to FFFFFFFFE0000000)
    mov rax, 0x1122334455667788
    mov [rdi + 0x20], rax
    mov rax, [rdi + 0x20]
    call phex64
    PRINT " "
    mov eax, [rdi + 0x20]
    shl rax, 32
    mov rdx, rax
    mov ecx, 8
    call phex64.l
    mov al, 10
    out PORT_OUT, al
    mov rax, 0x9E3779B97F4A7C15
    mov ebx, 4
.outer:
    mov ecx, 1000000
.l: mov rdx, rax
    shl rdx, 13
    xor rax, rdx
    mov rdx, rax
    shr rdx, 7
    xor rax, rdx
    mov rdx, rax
    shl rdx, 17
    xor rax, rdx
    dec ecx
    jnz .l
    CHECKPOINT
    dec ebx
    jnz .outer
    mov rbx, rax
    PRINT "xorshift "
    mov rax, rbx
    call phex64
    mov al, 10
    out PORT_OUT, al
    PRINTLN "done"
    EXIT 0
PHEX64_SUB
