; Mode switches: real -> 32-bit protected -> 16-bit protected -> real -> protected -> long (64-bit)
; -> compatibility mode -> back to 64-bit; far jumps, far returns and segment loads on the way.
; EXPECT: real mode
; EXPECT: protected mode 32
; EXPECT: protected mode 16
; EXPECT: back in real mode
; EXPECT: long mode 64
; EXPECT: compatibility mode
; EXPECT: 64-bit again 0123456789ABCDEF
%include "common.inc"
bits 16
org 0x8000
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    PRINTLN "real mode"
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:pm32

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7000
    PRINTLN "protected mode 32"
    ; CS limit and D bit really changed: a 32-bit immediate decodes as such.
    mov eax, 0x12345678
    cmp eax, 0x12345678
    CHECK e, "32-bit immediate"
    jmp 0x20:pm16

bits 16
pm16:
    mov ax, 0x28
    mov ds, ax
    mov ss, ax
    PRINTLN "protected mode 16"
    mov eax, cr0
    and al, 0xFE
    mov cr0, eax
    jmp 0x0000:real_again
real_again:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    ; Segment arithmetic is real-mode again: 0x0800:0x0000 is linear 0x8000 (our own first byte).
    mov ax, 0x0800
    mov es, ax
    cmp byte [es:0], 0xFA              ; cli
    CHECK e, "real-mode segment base"
    PRINTLN "back in real mode"
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:pm32b

bits 32
pm32b:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    BUILD_PT64
    mov eax, cr4
    or eax, 1 << 5                     ; PAE
    mov cr4, eax
    mov eax, 0x100000
    mov cr3, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 1 << 8                     ; LME
    wrmsr
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax
    ; Long mode is active (LMA), still in 32-bit compatibility code until the far jump.
    mov ecx, 0xC0000080
    rdmsr
    test eax, 1 << 10
    CHECK nz, "EFER.LMA"
    jmp 0x18:lm64

bits 64
lm64:
    mov rsp, 0x7000
    PRINTLN "long mode 64"
    mov rax, 0x123456789ABCDEF0
    shr rax, 4
    mov rbx, 0x0123456789ABCDEF
    cmp rax, rbx
    CHECK e, "64-bit arithmetic"
    ; To compatibility mode with a far return (RETFQ pops RIP then CS).
    push 0x08
    lea rax, [rel compat]
    push rax
    retfq
bits 32
compat:
    PRINTLN "compatibility mode"
    jmp 0x18:lm64b
bits 64
lm64b:
    PRINT "64-bit again "
    mov rax, 0x0123456789ABCDEF
    call phex64
    mov al, 10
    out PORT_OUT, al
    EXIT 0

PHEX64_SUB

align 8
gdt:
    dq 0
    DESC 0, 0xFFFFF, ACC_CODE0, FL_32   ; 0x08
    DESC 0, 0xFFFFF, ACC_DATA0, FL_32   ; 0x10
    DESC 0, 0xFFFFF, ACC_CODE0, FL_64   ; 0x18
    DESC 0, 0xFFFF, ACC_CODE0, FL_16    ; 0x20
    DESC 0, 0xFFFF, ACC_DATA0, FL_16    ; 0x28
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
