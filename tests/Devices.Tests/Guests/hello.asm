; Multiboot (a.out kludge) payload: prints a line on COM1 and powers off through ACPI S5.
; Assembled with: nasm -f bin hello.asm -o hello.bin
bits 32
org 0x100000
header:
    dd 0x1BADB002
    dd 0x00010003
    dd -(0x1BADB002 + 0x00010003)
    dd header
    dd header
    dd 0
    dd bss_end
    dd start
start:
    mov esp, stack_top
    mov dx, 0x3FB
    mov al, 0x80
    out dx, al
    mov dx, 0x3F8
    mov al, 1
    out dx, al
    mov dx, 0x3F9
    xor al, al
    out dx, al
    mov dx, 0x3FB
    mov al, 3
    out dx, al
    mov esi, msg
.next:
    lodsb
    test al, al
    jz .done
    mov ah, al
    mov dx, 0x3FD
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov dx, 0x3F8
    mov al, ah
    out dx, al
    jmp .next
.done:
    mov dx, 0x604               ; PM1a_CNT: SLP_TYP=5 (S5), SLP_EN
    mov ax, (5 << 10) | (1 << 13)
    out dx, ax
    cli
    hlt
    jmp $
msg: db "HELLO FROM THE GUEST", 10, 0
align 16
bss:
    resb 4096
stack_top:
bss_end:
