; The debugger's end-to-end guest: a PVH ELF kernel (the platform boots it directly; gdb reads its
; symbols). In flat 32-bit protected mode it prints "TICK n" on COM1 every 20 ms of guest time (ACPI
; PM timer) from the function tick, forever; the test stops it. An NMI (debugvm injectnmi) is counted
; by its handler and reported as a line "NMI" after the next tick.
; Build: nasm -f elf64 pvhtick.asm -o t.o && ld -m elf_x86_64 -T pvhtick.ld -o pvhtick.elf t.o (32-bit code in an ELF64)
bits 32
section .note.Xen note alloc noexec nowrite align=4
    dd 4                                ; name size
    dd 4                                ; desc size
    dd 18                               ; XEN_ELFNOTE_PHYS32_ENTRY
    db "Xen", 0
    dd start

section .text
global start, tick, wait_20ms, putc, ticks, nmi_handler
start:
    mov esp, stack_top
    ; IDT with one gate: vector 2 (NMI), a 32-bit interrupt gate in the boot code segment.
    mov eax, nmi_handler
    mov [idt + 2 * 8], ax
    mov word [idt + 2 * 8 + 2], cs
    mov word [idt + 2 * 8 + 4], 0x8E00
    shr eax, 16
    mov [idt + 2 * 8 + 6], ax
    lidt [idtr]
    mov dx, 0x3FB
    mov al, 3                           ; 8N1 (the UART's divisor stays as the platform set it)
    out dx, al
.loop:
    call wait_20ms
    call tick
    cmp dword [nmis], 0
    je .loop
    mov dword [nmis], 0
    mov esi, nmimsg
.m: lodsb
    test al, al
    jz .loop
    call putc
    jmp .m

nmi_handler:
    inc dword [nmis]
    iret

tick:                                   ; one tick: count it and print "TICK n"
    inc dword [ticks]
    mov esi, msg
.s: lodsb
    test al, al
    jz .n
    call putc
    jmp .s
.n: mov eax, [ticks]
    call putdec
    mov al, 10
    call putc
    ret

wait_20ms:
    mov dx, 0x608
    in eax, dx
    mov ebx, eax
.w: in eax, dx
    sub eax, ebx
    and eax, 0xFFFFFF
    cmp eax, 71591
    jb .w
    ret

putc:
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

putdec:
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

section .data
msg: db "TICK ", 0
nmimsg: db "NMI", 10, 0
align 4
ticks: dd 0
nmis: dd 0
idtr: dw 3 * 8 - 1
    dd idt
align 8
idt: times 3 dq 0
section .bss
    resb 4096
stack_top:
