; Hostile guest: forever writes random values to random I/O ports and MMIO addresses and reads them
; back, with a harmless IDT so stray interrupts and exceptions just return. Multiboot (a.out kludge).
; Avoids only what would end the VM on purpose: the debug-exit port (0xF4-0xF7); the test VM has no ACPI.
; RAM below 16 MiB is not written (the payload lives there); everything else above it is fair game.
; Loaded at 2 MiB so that turning the A20 gate off (port 0x92, i8042) does not pull the code away.
bits 32
org 0x200000                      ; bit 20 clear: the guest may switch A20 off under its own feet
header:
    dd 0x1BADB002, 0x00010003, -(0x1BADB002 + 0x00010003)
    dd header, header, 0, bss_end, start
start:
    cli
    mov esp, stack_top
    lgdt [gdtr]
    jmp 0x08:.reload
.reload:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    ; IDT: every vector → stub (pushes nothing, just iret; exceptions with an error code get it popped)
    xor ecx, ecx
.idt:
    mov eax, stub
    cmp ecx, 8
    je .err
    cmp ecx, 10
    jb .set
    cmp ecx, 14
    ja .chk17
.err:
    mov eax, stub_err
    jmp .set
.chk17:
    cmp ecx, 17
    jne .set
    mov eax, stub_err
.set:
    mov [idt + ecx*8], ax
    mov word [idt + ecx*8 + 2], 0x08
    mov word [idt + ecx*8 + 4], 0x8E00
    shr eax, 16
    mov [idt + ecx*8 + 6], ax
    inc ecx
    cmp ecx, 256
    jne .idt
    lidt [idtr]
    rdtsc                        ; seed from the TSC: a reset replays a different sequence
    mov ebx, eax
    or ebx, 1
.loop:
    call rand
    mov esi, eax
    call rand
    mov edi, eax                 ; value
    mov ecx, esi
    and ecx, 7
    cmp ecx, 3
    jb .port_out
    cmp ecx, 5
    jb .port_in
    cmp ecx, 6
    jb .mmio_write
    jmp .mmio_read
.port_out:
    mov edx, esi
    shr edx, 8
    and edx, 0xFFFF
    mov eax, edx
    and eax, 0xFFFC
    cmp eax, 0xF4
    je .loop
    mov eax, edi
    test esi, 0x08
    jz .ob
    test esi, 0x10
    jz .ow
    out dx, eax
    jmp .loop
.ow:
    out dx, ax
    jmp .loop
.ob:
    out dx, al
    jmp .loop
.port_in:
    mov edx, esi
    shr edx, 8
    and edx, 0xFFFF
    test esi, 0x08
    jz .ib
    in eax, dx
    jmp .loop
.ib:
    in al, dx
    jmp .loop
.mmio_write:
    ; half the time one of the device pages (IOAPIC, HPET, LAPIC), otherwise anything from 16 MiB up
    test esi, 0x10
    jz .any_w
    mov eax, esi
    shr eax, 5
    and eax, 0x3FC
    mov ecx, esi
    shr ecx, 20
    and ecx, 3
    mov ecx, [devpages + ecx*4]
    add eax, ecx
    mov [eax], edi
    jmp .loop
.any_w:
    mov eax, edi
    cmp eax, 0x01000000
    jb .loop
    and eax, 0xFFFFFFFC
    mov [eax], esi
    jmp .loop
.mmio_read:
    mov eax, edi
    and eax, 0xFFFFFFFC
    mov eax, [eax]
    jmp .loop
rand:                            ; xorshift32 on ebx, result in eax
    mov eax, ebx
    shl eax, 13
    xor ebx, eax
    mov eax, ebx
    shr eax, 17
    xor ebx, eax
    mov eax, ebx
    shl eax, 5
    xor ebx, eax
    mov eax, ebx
    ret
stub_err:
    add esp, 4
stub:
    iret
align 8
gdt:  dq 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF
gdtr: dw 23
      dd gdt
idtr: dw 256*8-1
      dd idt
devpages: dd 0xFEC00000, 0xFED00000, 0xFEE00000, 0x000A0000
align 16
bss:
idt:  resb 256*8
      resb 8192
stack_top:
bss_end:
