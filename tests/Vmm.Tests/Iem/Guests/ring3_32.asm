; Ring 3 in 32-bit protected mode: a call gate to ring 0 with parameter copying and RETF back,
; SYSENTER/SYSEXIT, an interrupt from ring 3 (TSS stack switch), and the TSS I/O permission bitmap.
; EXPECT: gate cs=0008 ss=0010 params=11111111,22222222 ret cs=001B old ss=0023
; EXPECT: back in ring 3 after retf, esp ok
; EXPECT: sysenter cs=0008 ss=0010 esp=00050000
; EXPECT: sysexit cs=001B ss=0023
; EXPECT: int from ring 3 esp0 ok
; EXPECT: hi from ring 3
; EXPECT: io: port 80 #GP, port E9 allowed
; EXPECT: done
%include "common.inc"
%macro GDT_USER 0
    dw (gate_target - $$ + 0x8000) & 0xFFFF   ; 30: 386 call gate, DPL 3, 2 parameters -> 08:gate_target
    dw 0x08
    db 2
    db 0xEC
    dw 0                                 ; (high offset: gate_target is below 64 KiB)
%endmacro
%include "pm32.inc"

pm_main:
    mov dword [ring0_cont], after_gate
    TO_RING3 user1
user1:
    USER_SEGS
    mov [user_esp], esp
    push dword 0x22222222
    push dword 0x11111111
    call 0x33:0                          ; through the call gate (selector 0x30, RPL 3)
    mov [user_esp2], esp
    mov ax, cs
    mov [ret_cs], ax
    TO_RING0 after_gate

gate_target:                             ; ring 0, on the TSS stack
    mov ax, cs
    mov [g_cs], ax
    mov ax, ss
    mov [g_ss], ax
    mov eax, [esp + 8]
    mov [g_p1], eax
    mov eax, [esp + 12]
    mov [g_p2], eax
    mov eax, [esp + 4]
    mov [g_retcs], eax
    mov eax, [esp + 20]
    mov [g_oldss], eax
    retf 8

after_gate:
    PRINT "gate cs="
    movzx eax, word [g_cs]
    call phex16
    PRINT " ss="
    movzx eax, word [g_ss]
    call phex16
    PRINT " params="
    mov eax, [g_p1]
    call phex32
    PRINT ","
    mov eax, [g_p2]
    call phex32
    PRINT " ret cs="
    mov eax, [g_retcs]
    call phex16
    PRINT " old ss="
    mov eax, [g_oldss]
    call phex16
    mov al, 10
    out PORT_OUT, al
    mov eax, [user_esp]
    cmp eax, [user_esp2]
    CHECK e, "retf 8 popped the parameters"
    cmp word [ret_cs], 0x1B
    CHECK e, "ring 3 after retf"
    PRINTLN "back in ring 3 after retf, esp ok"

    ; SYSENTER / SYSEXIT
    mov ecx, 0x174
    mov eax, 0x08
    xor edx, edx
    wrmsr
    mov ecx, 0x175
    mov eax, 0x50000
    wrmsr
    mov ecx, 0x176
    mov eax, sysenter_entry
    wrmsr
    mov dword [ring0_cont], after_sysexit
    TO_RING3 user2
user2:
    USER_SEGS
    mov ecx, esp
    mov edx, .ret
    sysenter
.ret:
    mov ax, cs
    mov [se_cs2], ax
    mov ax, ss
    mov [se_ss2], ax
    TO_RING0 after_sysexit
sysenter_entry:
    mov ax, cs
    mov [se_cs], ax
    mov ax, ss
    mov [se_ss], ax
    mov [se_esp], esp
    sysexit
after_sysexit:
    PRINT "sysenter cs="
    movzx eax, word [se_cs]
    call phex16
    PRINT " ss="
    movzx eax, word [se_ss]
    call phex16
    PRINT " esp="
    mov eax, [se_esp]
    call phex32
    mov al, 10
    out PORT_OUT, al
    PRINT "sysexit cs="
    movzx eax, word [se_cs2]
    call phex16
    PRINT " ss="
    movzx eax, word [se_ss2]
    call phex16
    mov al, 10
    out PORT_OUT, al

    ; interrupt from ring 3 through a DPL-3 gate: lands on TSS.ESP0
    mov eax, int_handler
    mov [idt + 30 * 8], ax
    mov word [idt + 30 * 8 + 4], 0xEE00
    shr eax, 16
    mov [idt + 30 * 8 + 6], ax
    mov dword [ring0_cont], after_int
    TO_RING3 user3
user3:
    USER_SEGS
    int 30
    TO_RING0 after_int
int_handler:
    mov [int_esp], esp
    iretd
after_int:
    mov eax, [int_esp]
    cmp eax, 0x70000 - 20                 ; SS, ESP, EFLAGS, CS, EIP pushed
    CHECK e, "TSS.ESP0 stack"
    PRINTLN "int from ring 3 esp0 ok"

    ; I/O bitmap: deny everything but port 0xE9
    mov edi, tss + 104
    mov ecx, 33
    mov al, 0xFF
    rep stosb
    and byte [tss + 104 + (0xE9 >> 3)], ~(1 << (0xE9 & 7))
    mov word [tss + 0x66], 104
    mov word [gdt + 0x28], 104 + 33 - 1    ; TSS limit covers the bitmap
    and byte [gdt + 0x28 + 5], ~2          ; not busy, so LTR takes it again
    mov ax, 0x28
    ltr ax
    mov dword [ring0_cont], after_io
    mov dword [got_vec], 0xFF
    TO_RING3 user4
user4:
    USER_SEGS
    RECOVER .r
    in al, 0x80
.r: mov eax, [got_vec]
    mov [io_vec], eax
    PRINTLN "hi from ring 3"              ; OUT to 0xE9 is allowed by the bitmap
    TO_RING0 after_io
after_io:
    ; (the ring-3 PRINT above came first in the output; the result line is printed here)
    PRINT "io: port 80 "
    cmp dword [io_vec], 13
    CHECK e, "IN from ring 3 without permission"
    PRINTLN "#GP, port E9 allowed"
    PRINTLN "done"
    EXIT 0

phex16:
    shl eax, 16
    mov edx, eax
    mov ecx, 4
    jmp phex32.l

align 4
user_esp: dd 0
user_esp2: dd 0
g_p1: dd 0
g_p2: dd 0
g_retcs: dd 0
g_oldss: dd 0
se_esp: dd 0
int_esp: dd 0
io_vec: dd 0
g_cs: dw 0
g_ss: dw 0
ret_cs: dw 0
se_cs: dw 0
se_ss: dw 0
se_cs2: dw 0
se_ss2: dw 0
