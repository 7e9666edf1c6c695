; Real mode: software interrupts through the IVT with IRET, exceptions through the IVT (#DE, the
; segment-limit #GP at offset FFFF), 16-bit string instructions forwards and backwards, far
; CALL/RET, LES/LDS, PUSHA/POPA, ENTER/LEAVE, and "unreal" mode (a 4 GiB limit kept from
; protected mode).
; EXPECT: int 40: ax=4041 if inside=0 flags restored
; EXPECT: #DE through the IVT, ip past the div
; EXPECT: #GP at offset FFFF
; EXPECT: strings: movsw ok, std movsb ok, repe cmpsb cx=0003, repne scasb di=0105
; EXPECT: far call/ret, les/lds ok
; EXPECT: pusha/popa, enter/leave ok
; EXPECT: unreal mode read 12345678
; EXPECT: done
%include "common.inc"
bits 16
org 0x8000
start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    ; IVT entries
    mov word [0x40 * 4], int40
    mov word [0x40 * 4 + 2], 0
    mov word [0 * 4], de_handler
    mov word [0 * 4 + 2], 0
    mov word [13 * 4], gp_handler
    mov word [13 * 4 + 2], 0
    ; INT 40 with IF=1: the handler sees IF=0, IRET restores IF=1
    sti
    mov ax, 0x4000
    int 0x40
    pushf
    pop bx
    cli
    test bx, 0x200
    CHECK nz, "IF after iret"
    cmp ax, 0x4041
    CHECK e, "int 40 result"
    PRINT "int 40: ax=4041 if inside="
    mov al, [if_inside]
    add al, '0'
    out PORT_OUT, al
    PRINTLN " flags restored"
    ; #DE: the IVT handler adds 2 to the saved IP (DIV CX is 2 bytes)
    xor cx, cx
    mov ax, 1
    div cx
    cmp byte [de_seen], 1
    CHECK e, "#DE"
    PRINTLN "#DE through the IVT, ip past the div"
    ; a word at offset FFFF crosses the 64 KiB limit: #GP (vector 13)
    mov bx, 0xFFFF
    mov ax, [bx]                         ; 3 bytes: 8B 07? no: 8B 07 is 2 bytes
    cmp byte [gp_seen], 1
    CHECK e, "#GP at FFFF"
    PRINTLN "#GP at offset FFFF"

    ; strings
    mov si, src
    mov di, 0x100
    mov ax, 0x1000
    mov es, ax
    mov cx, 4
    cld
    rep movsw                            ; 8 bytes to 1000:0100
    cmp dword [es:0x100], 'abcd'
    jne .sbad
    cmp dword [es:0x104], 'efgh'
    jne .sbad
    ; backwards byte copy to 1000:0200
    std
    mov si, src + 7
    mov di, 0x207
    mov cx, 8
    rep movsb
    cld
    cmp dword [es:0x204], 'efgh'
    jne .sbad
    ; repe cmpsb: 'abcdXfgh' vs 'abcdefgh' stops after the 5th byte, cx = 8 - 5
    mov si, src2
    mov di, 0x100
    mov cx, 8
    repe cmpsb
    mov dx, cx
    ; repne scasb for 'f' in 1000:0100.. : DI ends one past it (0x105 + 1 = 0x106?) -> 'f' is at 0x105
    mov di, 0x100
    mov al, 'f'
    mov cx, 8
    repne scasb
    dec di
    mov bp, di
    PRINT "strings: movsw ok, std movsb ok, repe cmpsb cx="
    mov ax, dx
    call phex16
    PRINT ", repne scasb di="
    mov ax, bp
    call phex16
    mov al, 10
    out PORT_OUT, al
    jmp .strok
.sbad:
    FAIL "string copy"
.strok:
    xor ax, ax
    mov es, ax
    ; far call / retf, les / lds
    call 0x0000:farproc
    cmp ax, 0xFA11
    CHECK e, "far call"
    les bx, [farptr]
    mov ax, es
    cmp ax, 0x1234
    CHECK e, "les segment"
    cmp bx, 0x5678
    CHECK e, "les offset"
    push ds
    lds si, [farptr]
    mov ax, ds
    pop ds
    cmp ax, 0x1234
    CHECK e, "lds"
    xor ax, ax
    mov es, ax
    PRINTLN "far call/ret, les/lds ok"
    ; pusha/popa and enter/leave
    mov ax, 1
    mov cx, 2
    mov dx, 3
    mov bx, 4
    mov bp, 6
    mov si, 7
    mov di, 8
    mov [sp_before], sp
    pusha
    xor ax, ax
    xor cx, cx
    xor bx, bx
    popa
    cmp cx, 2
    CHECK e, "popa cx"
    cmp bx, 4
    CHECK e, "popa bx"
    cmp sp, [sp_before]
    CHECK e, "popa sp"
    enter 8, 0
    mov word [bp - 2], 0xAAAA
    leave
    cmp bp, 6
    CHECK e, "leave bp"
    cmp sp, [sp_before]
    CHECK e, "leave sp"
    PRINTLN "pusha/popa, enter/leave ok"

    ; unreal mode: load DS with a 4 GiB segment in protected mode, go back to real mode
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:.pm
.pm:
    mov bx, 0x10
    mov fs, bx
    mov esi, 0x200000
    mov dword [fs:esi], 0x12345678       ; written in protected mode
    and al, 0xFE
    mov cr0, eax
    jmp 0:.rm
.rm:
    xor bx, bx
    mov fs, bx                           ; real-mode load keeps the 4 GiB limit
    mov esi, 0x200000
    mov eax, [fs:esi]
    mov ebp, eax
    PRINT "unreal mode read "
    mov eax, ebp
    call phex32_16
    mov al, 10
    out PORT_OUT, al
    PRINTLN "done"
    EXIT 0

int40:
    pushf
    pop bx
    shr bx, 9
    and bl, 1
    mov [if_inside], bl
    inc ax
    add ax, 0x40
    iret
de_handler:
    mov byte [de_seen], 1
    mov bp, sp
    add word [bp], 2
    iret
gp_handler:
    mov byte [gp_seen], 1
    mov bp, sp
    add word [bp], 2                     ; "mov ax, [bx]" is 2 bytes
    iret
farproc:
    mov ax, 0xFA11
    retf

phex16:                                  ; AX as 4 hex digits
    mov dx, ax
    mov cx, 4
.l: rol dx, 4
    mov al, dl
    and al, 15
    add al, '0'
    cmp al, '9'
    jbe .d
    add al, 7
.d: out PORT_OUT, al
    loop .l
    ret
phex32_16:                               ; EAX as 8 hex digits from 16-bit code
    push eax
    shr eax, 16
    call phex16
    pop eax
    call phex16
    ret

src: db 'abcdefgh'
src2: db 'abcdXfgh'
farptr: dw 0x5678, 0x1234
if_inside: db 9
de_seen: db 0
gp_seen: db 0
sp_before: dw 0
align 8
gdt:
    dq 0
    DESC 0, 0xFFFF, ACC_CODE0, FL_16     ; 08: 16-bit code
    DESC 0, 0xFFFFF, ACC_DATA0, FL_32    ; 10: 4 GiB data
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
