; The gdb stub's test guest (real mode, linked at 0x8000 into an ELF with symbols for gdb; the flat
; image is the ELF's .text). Ports as tests/Vmm.Tests/Iem/Guests/common.inc: 0xE9 output, 0xF4 exit.
bits 16
section .text
global start, bp_target, after_store, counter, done, after_read
start:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    xor bx, bx
    mov cx, 3
bp_target:
    inc ax                              ; 1 byte
    add bx, 2                           ; 3 bytes
    mov [counter], ax                   ; the watched store
after_store:
    loop bp_target
done:
    mov dx, [counter]                   ; the watched read
after_read:
    mov al, 'D'
    out 0xE9, al
    mov al, 0
    out 0xF4, al
.hang:
    hlt
    jmp .hang
align 16
counter: dw 0
