; Every exception class taken and returned from in 32-bit protected mode, with error codes:
; #DE #DB #BP #OF #BR #UD #NM #DF #NP #SS #GP, and a fault-free run in between to show state is intact.
; EXPECT: vec=00 err=FFFFFFFF
; EXPECT: vec=01 err=FFFFFFFF
; EXPECT: vec=03 err=FFFFFFFF
; EXPECT: vec=04 err=FFFFFFFF
; EXPECT: vec=05 err=FFFFFFFF
; EXPECT: vec=06 err=FFFFFFFF
; EXPECT: vec=07 err=FFFFFFFF
; EXPECT: vec=0B err=00000030
; EXPECT: vec=0C err=00000000
; EXPECT: vec=0D err=00000100
; EXPECT: vec=0D err=00000000
; EXPECT: vec=0D err=000000A2
; EXPECT: vec=08 err=00000000
; EXPECT: faults=13
%include "common.inc"
%macro GDT_USER 0
    DESC 0, 0xFFFFF, 0x12, FL_32        ; 30: data, not present
    DESC 0, 0xFFF, ACC_DATA0, 0x4       ; 38: data, byte granular, limit 0xFFF, B=1
    DESC 0, 0xFFFFF, 0x90, FL_32        ; 40: read-only data
%endmacro
%include "pm32.inc"

pm_main:
    ; #DE
    RECOVER .a
    xor ecx, ecx
    div ecx
.a: call report
    ; #DB: single step trap after the instruction following POPF
    RECOVER .b
    pushfd
    or dword [esp], 0x100
    popfd
    nop
    nop
.b: call report
    ; #BP (a trap: EIP after INT3)
    RECOVER .c
    int3
.c: call report
    ; #OF via INTO
    RECOVER .d
    mov al, 127
    add al, 1
    into
.d: call report
    ; #BR
    RECOVER .e
    mov eax, 10
    bound eax, [bounds]
.e: call report
    ; #UD
    RECOVER .f
    ud2
.f: call report
    ; #NM: CR0.TS with MP set, then WAIT
    RECOVER .g
    mov eax, cr0
    or eax, 0xA                  ; MP | TS
    mov cr0, eax
    wait
.g: clts
    call report
    ; #NP: a not-present data descriptor (selector 0x30)
    RECOVER .h
    mov ax, 0x30
    mov ds, ax
.h: mov ax, 0x10
    mov ds, ax
    call report
    ; #SS: a stack segment with limit 0xFFF, access beyond it
    RECOVER .i
    mov ebx, esp
    mov esp, 0xF00                ; the exception frame must fit in the small stack segment
    mov ax, 0x38
    mov ss, ax
    mov eax, [ss:0x2000]
.i: mov ax, 0x10
    mov ss, ax
    mov esp, ebx
    call report
    ; #GP: selector beyond the GDT limit
    RECOVER .j
    mov ax, 0x100
    mov es, ax
.j: call report
    ; #GP(0): write to a read-only data segment (0x40)
    RECOVER .k
    mov ax, 0x40
    mov es, ax
    mov dword [es:0x100], 1
.k: mov ax, 0x10
    mov es, ax
    call report
    ; #GP(vector*8+2): INT to a gate beyond the IDT limit (a software interrupt: EXT=0)
    RECOVER .l
    lidt [idtr_short]             ; the IDT now holds vectors 0..13 only
    int 20
.l: lidt [idtr]
    call report
    ; #DF: #DE with its gate not present -> #NP during delivery -> double fault
    RECOVER .m
    mov byte [idt + 0 * 8 + 5], 0x0E  ; clear P of gate 0
    xor ecx, ecx
    div ecx
.m: mov byte [idt + 0 * 8 + 5], 0x8E
    call report
    PRINT "faults="
    mov eax, [xcount]
    shl eax, 24
    mov ecx, 2
    mov edx, eax
    call print_dec2
    mov al, 10
    out PORT_OUT, al
    EXIT 0

print_dec2:                      ; prints (EAX>>24) as decimal (< 100)
    shr eax, 24
    mov cl, 10
    div cl
    add al, '0'
    out PORT_OUT, al
    mov al, ah
    add al, '0'
    out PORT_OUT, al
    ret

bounds: dd 0, 5
idtr_short:
    dw 14 * 8 - 1
    dd idt
