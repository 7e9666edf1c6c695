; A 64-bit ring-3 loop (xorshift64, 4 million rounds) with checkpoints every million rounds,
; 8-byte MMIO from ring 3 through a user mapping, and port output from ring 3 (IOPL 3).
; EXPECT: mmio64 1122334455667788 55667788
; EXPECT: xorshift 87AF7D85756AED8A
; EXPECT: done
%include "common.inc"
%include "hm16.inc"
%include "lm64.inc"

%define PD3 0x105000                   ; PD for 3..4 GiB: the MMIO device and the ROM

lm_main:
    mov edi, PD3
    mov ecx, 512
    xor eax, eax
    rep stosq
    mov qword [PD3 + 256 * 8], MMIO_BASE | 0x87      ; 2 MiB user page over the device
    mov qword [PDPT + 3 * 8], PD3 | 7
    mov rax, cr3
    mov cr3, rax
    pushfq
    or qword [rsp], 3 << 12            ; IOPL 3: ring 3 may use the ports
    popfq
    TO_RING3 user
user:
    PRINT "mmio64 "
    mov rdi, MMIO_BASE                 ; (a disp32 would sign-extend to FFFFFFFFE0000000)
    mov rax, 0x1122334455667788
    mov [rdi + 0x20], rax
    mov rax, [rdi + 0x20]
    call phex64
    PRINT " "
    mov rdi, MMIO_BASE
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
