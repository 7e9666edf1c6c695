; A minimal bzImage boot sector for Bochs (and any BIOS): loads the kernel that follows it on the
; disk with INT 13h extensions, following the 16-bit Linux boot protocol: real-mode setup at
; 9000:0000, the protected-mode kernel at 1 MiB (moved up with INT 15h AH=87h), the command line at
; 9000:E000, then a jump to 9020:0000. The benchmark driver patches kernel_sectors and the command line.
bits 16
org 0x7C00
    jmp short start
    nop
kernel_sectors: dd 0                     ; sectors of bzImage (patched)
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    mov [drive], dl
    ; the first sector of the kernel (LBA 1) tells how many setup sectors follow
    mov eax, 1
    mov cx, 1
    mov bx, 0x9000
    call read
    push ds
    mov ax, 0x9000
    mov ds, ax
    movzx cx, byte [0x1F1]
    pop ds
    or cx, cx
    jnz .s
    mov cx, 4
.s: mov [setup], cx
    mov eax, 2                           ; the setup sectors go right after the boot sector image
    mov bx, 0x9020
    call read
    ; protected-mode part: LBA 2 + setup .. kernel_sectors
    movzx eax, word [setup]
    add eax, 2
    mov [lba], eax
    mov ecx, [kernel_sectors]
    movzx edx, word [setup]
    sub ecx, edx
    dec ecx
    mov [left], ecx
.chunk:
    mov ecx, [left]
    or ecx, ecx
    jz .loaded
    cmp ecx, 64
    jbe .n
    mov ecx, 64
.n: mov [count], cx
    mov eax, [lba]
    mov bx, 0x2000
    call read
    ; move 64 sectors (32 KiB) from 0x20000 to [dest] with INT 15h AH=87h
    mov eax, [dest]
    mov [gdt_dst + 2], ax
    shr eax, 16
    mov [gdt_dst + 4], al
    mov [gdt_dst + 7], ah
    push ds
    pop es
    mov si, gdt
    mov cx, 0x4000                       ; words
    mov ah, 0x87
    int 0x15
    jc fail
    movzx eax, word [count]
    add [lba], eax
    sub [left], eax
    add dword [dest], 0x8000
    jmp .chunk
.loaded:
    ; boot protocol header fields
    mov ax, 0x9000
    mov es, ax
    mov byte [es:0x210], 0xFF            ; type_of_loader
    or byte [es:0x211], 0x80             ; CAN_USE_HEAP
    mov word [es:0x224], 0xDE00          ; heap_end_ptr
    mov dword [es:0x228], 0x9E000        ; cmd_line_ptr
    mov si, cmdline
    mov di, 0xE000
    mov cx, 256
    rep movsb
    mov ax, 0x9000
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    cli
    mov ss, ax
    mov sp, 0xE000
    jmp 0x9020:0

; read CX sectors at LBA EAX to BX:0000
read:
    mov [dap_count], cx
    mov word [dap_off], 0
    mov [dap_seg], bx
    mov [dap_lba], eax
    mov si, dap
    mov dl, [drive]
    mov ah, 0x42
    int 0x13
    jc fail
    ret
fail:
    mov al, 'E'
    mov dx, 0x3F8
    out dx, al
    cli
    hlt

align 4
dap:       db 0x10, 0
dap_count: dw 0
dap_off:   dw 0
dap_seg:   dw 0
dap_lba:   dd 0, 0
gdt:       times 16 db 0
gdt_src:   dw 0xFFFF, 0x0000
           db 0x02, 0x93, 0, 0               ; source: 0x20000
gdt_dst:   dw 0xFFFF, 0x0000
           db 0x10, 0x93, 0, 0               ; destination (patched; starts at 0x100000)
           times 16 db 0
dest:      dd 0x100000
lba:       dd 0
left:      dd 0
setup:     dw 0
count:     dw 0
drive:     db 0
cmdline:   db "console=ttyS0 earlyprintk=ttyS0 nokaslr", 0
times 510 - ($ - $$) db 0
dw 0xAA55
