; External interrupts: held while IF=0, taken one instruction after STI (the interrupt shadow),
; HLT woken by an interrupt, the frame's EFLAGS.IF, IF cleared inside an interrupt gate.
; EXPECT: pending while IF=0
; EXPECT: taken after the STI shadow: marker=1
; EXPECT: handler saw IF=0, frame IF=1
; EXPECT: hlt woken, resumed after hlt
; EXPECT: done
%include "common.inc"
%include "pm32.inc"

pm_main:
    mov eax, irq_handler
    mov [idt + 30 * 8], ax
    shr eax, 16
    mov [idt + 30 * 8 + 6], ax
    cli
    mov al, 30
    out PORT_IRQ, al                     ; line asserted, IF=0: nothing happens
    nop
    nop
    cmp dword [irq_count], 0
    CHECK e, "interrupt taken with IF=0"
    PRINTLN "pending while IF=0"
    mov byte [marker], 0
    sti
    mov byte [marker], 1                 ; runs before the interrupt (STI shadow)
    mov byte [marker], 2
    cmp dword [irq_count], 1
    CHECK e, "interrupt taken once"
    PRINT "taken after the STI shadow: marker="
    mov al, [seen_marker]
    add al, '0'
    out PORT_OUT, al
    mov al, 10
    out PORT_OUT, al
    PRINT "handler saw IF="
    mov eax, [seen_flags]
    shr eax, 9
    and al, 1
    add al, '0'
    out PORT_OUT, al
    PRINT ", frame IF="
    mov eax, [frame_flags]
    shr eax, 9
    and al, 1
    add al, '0'
    out PORT_OUT, al
    mov al, 10
    out PORT_OUT, al
    ; HLT with an interrupt arriving while halted (raised in the STI shadow, so HLT runs first)
    cli
    mov al, 30
    out PORT_IRQ, al
    mov byte [marker], 7
    sti
    hlt
    mov byte [marker], 8
    cmp dword [irq_count], 2
    CHECK e, "second interrupt"
    cmp byte [seen_marker], 7
    CHECK e, "interrupt during hlt"
    PRINTLN "hlt woken, resumed after hlt"
    PRINTLN "done"
    EXIT 0

irq_handler:
    push eax
    mov al, [marker]
    mov [seen_marker], al
    pushfd
    pop eax
    mov [seen_flags], eax
    mov eax, [esp + 12]
    mov [frame_flags], eax
    inc dword [irq_count]
    pop eax
    iretd

align 4
irq_count: dd 0
seen_flags: dd 0
frame_flags: dd 0
marker: db 0
seen_marker: db 0
