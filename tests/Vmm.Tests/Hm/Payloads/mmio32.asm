; MMIO in 32-bit protected mode: every size to a device, string moves from it, unassigned space
; (reads all ones, writes dropped), ROM (reads its contents, writes dropped), RAM unaffected.
; EXPECT: mmio 11223344 AA22 33 AA223344
; EXPECT: movsd AA223344 00000000
; EXPECT: unassigned FFFFFFFF FFFFFFFF
; EXPECT: rom 214D4F52 214D4F52
; EXPECT: done
%include "common.inc"
%include "hm16.inc"
%include "pm32.inc"

pm_main:
    PRINT "mmio "
    mov dword [MMIO_BASE + 0x10], 0x11223344
    mov eax, [MMIO_BASE + 0x10]
    call phex32
    mov byte [MMIO_BASE + 0x13], 0xAA
    PRINT " "
    movzx eax, word [MMIO_BASE + 0x12]
    shl eax, 16
    mov edx, eax
    mov ecx, 4
    call phex32.l
    PRINT " "
    movzx eax, byte [MMIO_BASE + 0x11]
    shl eax, 24
    call phex8
    PRINT " "
    mov eax, [MMIO_BASE + 0x10]
    call phex32
    mov al, 10
    out PORT_OUT, al
    PRINT "movsd "
    mov esi, MMIO_BASE + 0x10
    mov edi, buf
    mov ecx, 2
    cld
    rep movsd
    mov eax, [buf]
    call phex32
    PRINT " "
    mov eax, [buf + 4]
    call phex32
    mov al, 10
    out PORT_OUT, al
    PRINT "unassigned "
    mov eax, [0xD0000000]
    call phex32
    mov dword [0xD0000000], 0
    PRINT " "
    mov eax, [0xD0000000]
    call phex32
    mov al, 10
    out PORT_OUT, al
    PRINT "rom "
    mov eax, [ROM_BASE + 4]
    call phex32
    mov dword [ROM_BASE + 4], 0x12345678
    PRINT " "
    mov eax, [ROM_BASE + 4]
    call phex32
    mov al, 10
    out PORT_OUT, al
    PRINTLN "done"
    EXIT 0
align 4
buf: dd 0xCCCCCCCC, 0xCCCCCCCC
