; MSRs the CPU model does not own go to the platform (ICpuBus.TryReadMsr/TryWriteMsr) on both
; engines; one the platform refuses raises #GP. MSR 0x40000123 is a platform test register.
; EXPECT: msr write/read 1234567887654321
; EXPECT: unknown msr: #GP
; EXPECT: done
%include "common.inc"
%include "hm16.inc"
bits 16
org 0x8000
start:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word [13 * 4], gp_handler
    mov word [13 * 4 + 2], 0
    mov ecx, 0x40000123
    mov edx, 0x12345678
    mov eax, 0x87654321
    wrmsr
    xor eax, eax
    xor edx, edx
    rdmsr
    mov ebx, eax
    PRINT "msr write/read "
    PHEXD edx
    PHEXD ebx
    NEWLINE
    mov ecx, 0x40000124
    rdmsr                               ; refused: #GP, the handler skips it
    cmp byte [gps], 1
    je .ok
    FAIL "no #GP for an unknown MSR"
.ok:
    PRINTLN "unknown msr: #GP"
    PRINTLN "done"
    EXIT 0
gp_handler:
    inc byte [gps]
    push bp
    mov bp, sp
    add word [bp + 2], 2                ; skip the 2-byte RDMSR
    pop bp
    iret
gps: db 0
PHEX16_SUB
