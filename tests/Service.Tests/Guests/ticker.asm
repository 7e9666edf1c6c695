; Multiboot (a.out kludge) payload for VM lifecycle tests: prints "TICK n" on COM1 every 0.1 s of
; guest time (ACPI PM timer, 3.579545 MHz, so the ticks stop while the VM is paused and go on after a
; restore), and "KEY xx" for every byte the i8042 keyboard delivers (controlvm keyboardputscancode).
; Assembled with: nasm -f bin ticker.asm -o ticker.bin
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
    mov dx, 0x3FB               ; COM1: 115200 8N1
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
    mov edi, hello
    call puts
    xor ebx, ebx                ; ticks so far
    mov dx, 0x608               ; PM1 timer (24 bits)
    in eax, dx
    and eax, 0xFFFFFF
    mov esi, eax                ; time of the last tick
.loop:
    mov dx, 0x64                ; i8042 status: output buffer full?
    in al, dx
    test al, 1
    jz .nokey
    mov dx, 0x60
    in al, dx
    push eax
    mov edi, keymsg
    call puts
    pop eax
    call puthex8
    mov al, 10
    call putc
.nokey:
    mov dx, 0x608
    in eax, dx
    and eax, 0xFFFFFF
    mov ecx, eax
    sub ecx, esi
    and ecx, 0xFFFFFF
    cmp ecx, 357954             ; 0.1 s
    jb .loop
    add esi, 357954
    and esi, 0xFFFFFF
    inc ebx
    mov edi, tickmsg
    call puts
    mov eax, ebx
    call putdec
    mov al, 10
    call putc
    jmp .loop

; putc: AL to COM1
putc:
    push edx
    push eax
    mov dx, 0x3FD
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop eax
    mov dx, 0x3F8
    out dx, al
    pop edx
    ret

; puts: zero-terminated string at EDI
puts:
    mov al, [edi]
    test al, al
    jz .done
    call putc
    inc edi
    jmp puts
.done:
    ret

; putdec: EAX in decimal
putdec:
    push ebx
    push ecx
    push edx
    mov ecx, 0
    mov ebx, 10
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.out:
    pop eax
    add al, '0'
    call putc
    loop .out
    pop edx
    pop ecx
    pop ebx
    ret

; puthex8: AL as two hex digits
puthex8:
    push eax
    shr al, 4
    call .nib
    pop eax
    and al, 0x0F
.nib:
    cmp al, 10
    jb .digit
    add al, 'a' - 10
    jmp putc
.digit:
    add al, '0'
    jmp putc

hello:   db "TICKER READY", 10, 0
tickmsg: db "TICK ", 0
keymsg:  db "KEY ", 0
align 16
bss_start:
    resb 4096
stack_top:
bss_end:
