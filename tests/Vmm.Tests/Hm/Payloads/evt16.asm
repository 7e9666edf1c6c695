; ioeventfd: writes to port 0xF6 (bound to an eventfd) and 0xF7 (bound with a data match of 0x42)
; never reach the platform; other writes to 0xF7 do (and the bus ignores them).
; EXPECT: written
%include "common.inc"
bits 16
org 0x8000
start:
    mov al, 1
    out 0xF6, al
    out 0xF6, al
    out 0xF6, al
    mov al, 0x42
    out 0xF7, al
    mov al, 0x43
    out 0xF7, al
    PRINTLN "written"
    EXIT 0
