; Multiboot payload for the engine-switch end-to-end test (scripts/suites/hm-e2e.sh): prints
; "COUNT n" on COM1 every 50 ms of guest time (ACPI PM timer, 3.579545 MHz, 24 bits) up to
; COUNT 100, then powers off through ACPI S5. Only port I/O and plain 32-bit code: it runs on
; either engine (and on kvm-pvm, whose ring-0 emulator handles these), and its state moves
; between them through a saved state.
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
    mov edi, 1                          ; the count lives in EDI (a register: it must survive the move)
.count:
    mov dx, 0x608                       ; wait 50 ms on the PM timer
    in eax, dx
    mov ebx, eax
.wait:
    in eax, dx
    sub eax, ebx
    and eax, 0xFFFFFF
    cmp eax, 178977
    jb .wait
    mov esi, msg
    call puts
    mov eax, edi
    call putdec
    mov al, 10
    call putc
    inc edi
    cmp edi, 100
    jbe .count
    mov dx, 0x604                       ; PM1a_CNT: SLP_TYP=5 (S5), SLP_EN
    mov ax, (5 << 10) | (1 << 13)
    out dx, ax
    cli
    hlt
    jmp $

puts:                                   ; ESI: zero-terminated string
    lodsb
    test al, al
    jz .r
    call putc
    jmp puts
.r: ret

putc:                                   ; AL: byte to COM1 (waits for THR empty)
    push edx
    mov ah, al
    mov dx, 0x3FD
.w: in al, dx
    test al, 0x20
    jz .w
    mov dx, 0x3F8
    mov al, ah
    out dx, al
    pop edx
    ret

putdec:                                 ; EAX: unsigned decimal
    push ebx
    push ecx
    push edx
    mov ebx, 10
    xor ecx, ecx
.d: xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .d
.p: pop eax
    add al, '0'
    call putc
    loop .p
    pop edx
    pop ecx
    pop ebx
    ret

msg: db "COUNT ", 0
align 16
bss:
    resb 4096
stack_top:
bss_end:
