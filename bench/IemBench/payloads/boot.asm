; Boot sector for the QEMU/Bochs runs of the benchmark payloads: loads the payload (sectors 2..)
; to 0000:8000 with INT 13h and jumps to it, in real mode, as IEM starts it directly.
bits 16
org 0x7C00
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    mov ax, 0x0200 + 60          ; read 60 sectors
    mov cx, 0x0002               ; cylinder 0, sector 2
    xor dh, dh                   ; head 0 (DL = boot drive from the BIOS)
    mov bx, 0x8000
    int 0x13
    jc .fail
    jmp 0x0000:0x8000
.fail:
    mov al, 'E'
    out 0xE9, al
    hlt
    jmp .fail
times 510 - ($ - $$) db 0
dw 0xAA55
