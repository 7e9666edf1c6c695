; A target for the debugger tests (real mode): known instructions at known addresses.
; 0x8100: bp_target (inc ax), then add bx, 2 / mov [0x9000], ax (a watched store) / exit.
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
    xor bx, bx
    mov cx, 3
    jmp bp_target
    times 0x100 - ($ - $$) nop
bp_target:                              ; 0x8100
    inc ax                              ; 1 byte
    add bx, 2                           ; 3 bytes: 0x8101
    mov [0x9000], ax                    ; 3 bytes: 0x8104
    loop bp_target                      ; 0x8107
    PRINTLN "done"
    EXIT 0
