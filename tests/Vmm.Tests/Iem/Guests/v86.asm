; Virtual-8086 mode: entered with IRETD (VM=1), real-mode segment arithmetic at CPL 3, INT n with
; IOPL 0 trapping to the ring-0 monitor (#GP), IOPL 3 INT n through a DPL-3 gate with the v86
; frame (segment registers saved and nulled), IRETD back, and the monitor ending v86 mode.
; EXPECT: v86: wrote 1234 at 1000:0010
; EXPECT: monitor: #GP from v86 for INT 21, cs=0800
; EXPECT: monitor: #GP from v86 for CLI
; EXPECT: gate from v86: ds=0000 saved ds=1000 vm=1
; EXPECT: v86 finished, ax=BEEF
; EXPECT: done
%include "common.inc"
%include "pm32.inc"

%define V86_CS 0x0800                    ; our image at 0x8000 = 0800:0000

pm_main:
    ; #GP (13) goes to the monitor; gate 30 (DPL 3) to the v86 interrupt handler
    mov eax, v86_monitor
    mov [idt + 13 * 8], ax
    shr eax, 16
    mov [idt + 13 * 8 + 6], ax
    mov eax, v86_int
    mov [idt + 30 * 8], ax
    mov word [idt + 30 * 8 + 4], 0xEE00
    shr eax, 16
    mov [idt + 30 * 8 + 6], ax
    mov [monitor_esp], esp
    ; enter v86 with IOPL 0
    push dword 0                         ; GS
    push dword 0                         ; FS
    push dword 0x1000                    ; DS
    push dword 0x1000                    ; ES
    push dword 0x0600                    ; SS
    push dword 0x0FF0                    ; ESP (linear 0x6FF0)
    push dword (1 << 17) | 2             ; EFLAGS: VM, IOPL 0
    push dword V86_CS
    push dword v86_code - 0x8000
    iretd

bits 16
v86_code:
    mov word [0x10], 0x1234              ; DS = 0x1000: linear 0x10010
    mov ax, 0x21
    int 0x21                             ; IOPL 0: #GP to the monitor, which skips it
    cli                                  ; #GP too
    int 0xF4                             ; monitor: raise IOPL to 3
    int 30                               ; now through the IDT (gate 30, DPL 3)
    mov ax, 0xBEEF
    hlt                                  ; #GP: the monitor ends v86 mode
bits 32

v86_monitor:                             ; #GP from v86: [esp] err, EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS
    mov bx, 0x10
    mov ds, bx
    mov es, bx
    add esp, 4
    movzx ebx, word [esp + 4]
    shl ebx, 4
    add ebx, [esp]                       ; linear address of the faulting instruction
    mov cl, [ebx]
    cmp cl, 0xF4
    je .hlt
    cmp cl, 0xFA
    je .cli
    cmp cl, 0xCD
    jne .bad
    cmp byte [ebx + 1], 0xF4
    je .iopl
    cmp byte [ebx + 1], 0x21
    jne .bad
    cmp dword [0x10010], 0x1234
    jne .bad
    PRINTLN "v86: wrote 1234 at 1000:0010"
    PRINT "monitor: #GP from v86 for INT 21, cs="
    mov eax, [esp + 4]
    shl eax, 16
    mov edx, eax
    mov ecx, 4
    call phex32.l
    mov al, 10
    out PORT_OUT, al
    add dword [esp], 2
    iretd
.cli:
    PRINTLN "monitor: #GP from v86 for CLI"
    inc dword [esp]
    iretd
.iopl:
    or dword [esp + 8], 3 << 12
    add dword [esp], 2
    iretd
.hlt:
    mov [v86_ax], ax
    mov esp, [monitor_esp]
    jmp v86_done
.bad:
    FAIL "unexpected #GP from v86"

v86_int:                                 ; from v86 through a gate: DS..GS are null now
    mov bx, ds
    mov ax, 0x10
    mov ds, ax
    mov [int_ds], bx
    mov eax, [esp + 24]                  ; saved DS in the v86 frame
    mov [int_saved_ds], eax
    mov eax, [esp + 8]
    mov [int_eflags], eax
    iretd

v86_done:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    PRINT "gate from v86: ds="
    movzx eax, word [int_ds]
    call phex16
    PRINT " saved ds="
    mov eax, [int_saved_ds]
    call phex16
    PRINT " vm="
    mov eax, [int_eflags]
    shr eax, 17
    and al, 1
    add al, '0'
    out PORT_OUT, al
    mov al, 10
    out PORT_OUT, al
    PRINT "v86 finished, ax="
    movzx eax, word [v86_ax]
    call phex16
    mov al, 10
    out PORT_OUT, al
    PRINTLN "done"
    EXIT 0

phex16:
    shl eax, 16
    mov edx, eax
    mov ecx, 4
    jmp phex32.l

align 4
monitor_esp: dd 0
int_saved_ds: dd 0
int_eflags: dd 0
v86_ax: dw 0
int_ds: dw 0
