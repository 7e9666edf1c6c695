; Multiboot (a.out kludge) payload for bench/SvcBench, the same binary on SharpBox (--boot-kernel)
; and QEMU (-kernel): "GO" on COM1 at its very first instructions (start-up latency), then fills
; guest RAM from 2 MiB to 240 MiB with xorshift32 output (incompressible, so neither side's saved
; state can skip or shrink it), prints "FILLED", then "TICK n" every 20 ms of guest time, timed with
; PIT channel 2 through port 0x61 (present on both machines; the ACPI PM timer's port differs).
; Assembled with: nasm -f bin memfill.asm -o memfill.bin
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
    mov dx, 0x3F8               ; the first guest output, before anything else
    mov al, 'G'
    out dx, al
    mov al, 'O'
    out dx, al
    mov al, 10
    out dx, al
    mov esp, stack_top
    mov edi, 0x200000
    mov eax, 0x2545F491
.fill:
    mov ebx, eax
    shl ebx, 13
    xor eax, ebx
    mov ebx, eax
    shr ebx, 17
    xor eax, ebx
    mov ebx, eax
    shl ebx, 5
    xor eax, ebx
    mov [edi], eax
    add edi, 4
    cmp edi, 0x0F000000
    jb .fill
    mov esi, filled
    call puts
    xor ebp, ebp
.tick:
    in al, 0x61                 ; gate channel 2 on, speaker off
    and al, 0xFC
    or al, 1
    out 0x61, al
    mov al, 0xB0                ; channel 2, lobyte/hibyte, mode 0 (OUT goes high at terminal count)
    out 0x43, al
    mov ax, 23864               ; 20 ms at 1.193182 MHz
    out 0x42, al
    mov al, ah
    out 0x42, al
.wait:
    in al, 0x61
    test al, 0x20
    jz .wait
    inc ebp
    mov esi, tick
    call puts
    mov eax, ebp
    call putdec
    mov al, 10
    call putc
    jmp .tick

puts:                           ; esi: NUL-terminated string
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

putc:
    mov dx, 0x3F8
    out dx, al
    ret

putdec:                         ; eax: unsigned
    mov ecx, 10
    xor ebx, ebx
.digits:
    xor edx, edx
    div ecx
    push edx
    inc ebx
    test eax, eax
    jnz .digits
.out:
    pop eax
    add al, '0'
    call putc
    dec ebx
    jnz .out
    ret

filled: db "FILLED", 10, 0
tick:   db "TICK ", 0

align 16
bss_start:
    resb 4096
stack_top:
bss_end:
