; Real-mode port I/O of every size, string I/O in both directions, input served by the platform.
; EXPECT: echo A5 EDCB 76543210
; EXPECT: counter 01 0002 00000003
; EXPECT: outsb Hello
; EXPECT: insw 0004 0005 0006
; EXPECT: outsd DDDDDDDD
; EXPECT: done
%include "common.inc"
%include "hm16.inc"
bits 16
org 0x8000
start:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    PRINT "echo "
    mov al, 0x5A
    out PORT_ECHO, al
    in al, PORT_ECHO
    PHEX al, 2
    SPACE
    mov dx, PORT_ECHO
    mov ax, 0x1234
    out dx, ax
    in ax, dx
    PHEX ax, 4
    SPACE
    mov dx, PORT_ECHO
    mov eax, 0x89ABCDEF
    out dx, eax
    in eax, dx
    PHEXD eax
    NEWLINE
    PRINT "counter "
    in al, PORT_COUNTER
    PHEX al, 2
    SPACE
    in ax, PORT_COUNTER
    PHEX ax, 4
    SPACE
    in eax, PORT_COUNTER
    PHEXD eax
    NEWLINE
    PRINT "outsb "
    mov si, hello
    mov cx, 5
    mov dx, PORT_OUT
    cld
    rep outsb
    NEWLINE
    PRINT "insw"
    mov di, buf
    mov cx, 3
    mov dx, PORT_COUNTER
    rep insw
    mov si, buf
    mov bx, 3
.p: SPACE
    lodsw
    PHEX ax, 4
    dec bx
    jnz .p
    NEWLINE
    PRINT "outsd "
    mov si, dwords
    mov cx, 2
    mov dx, PORT_ECHO
    rep outsd
    in eax, dx
    PHEXD eax
    NEWLINE
    PRINTLN "done"
    EXIT 0
PHEX16_SUB
hello: db "Hello"
align 4
dwords: dd 0x11111111, 0x22222222
buf: times 8 dw 0
