; KVM's in-kernel interrupt controllers and PIT (KVM only): the guest programs the master 8259 and
; the 8254 itself (those ports never leave the kernel), then waits in HLT (in the kernel too).
; Checkpoint 1: the test pulses GSI 3 with KVM_IRQ_LINE; 2: it signals GSI 4's irqfd.
; EXPECT: irq line: irq3 taken
; EXPECT: irqfd: irq4 taken
; EXPECT: pit: 3 ticks
; EXPECT: done
%include "common.inc"
%include "hm16.inc"
bits 16
org 0x8000
start:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    mov word [0x20 * 4], irq0
    mov word [0x23 * 4], irq3
    mov word [0x24 * 4], irq4
    mov word [0x20 * 4 + 2], 0
    mov word [0x23 * 4 + 2], 0
    mov word [0x24 * 4 + 2], 0
    mov al, 0x11                        ; ICW1: edge, cascade, ICW4
    out 0x20, al
    mov al, 0x20                        ; ICW2: vectors 0x20..0x27
    out 0x21, al
    mov al, 0x04                        ; ICW3: slave on IRQ2
    out 0x21, al
    mov al, 0x01                        ; ICW4: 8086 mode
    out 0x21, al
    mov al, ~((1 << 3) | (1 << 4)) & 0xFF
    out 0x21, al                        ; unmask IRQ3 and IRQ4
    sti
    CHECKPOINT
.w3: hlt
    cmp byte [n3], 1
    jne .w3
    PRINTLN "irq line: irq3 taken"
    CHECKPOINT
.w4: hlt
    cmp byte [n4], 1
    jne .w4
    PRINTLN "irqfd: irq4 taken"
    mov al, 0x34                        ; PIT channel 0, lo/hi, mode 2
    out 0x43, al
    mov al, 0x9C                        ; 11932: 100 Hz
    out 0x40, al
    mov al, 0x2E
    out 0x40, al
    in al, 0x21
    and al, ~1
    out 0x21, al                        ; unmask IRQ0
.w0: hlt
    cmp byte [n0], 3
    jb .w0
    cli
    PRINTLN "pit: 3 ticks"
    PRINTLN "done"
    EXIT 0

irq0:
    inc byte [n0]
    jmp eoi
irq3:
    inc byte [n3]
    jmp eoi
irq4:
    inc byte [n4]
eoi:
    push ax
    mov al, 0x20
    out 0x20, al
    pop ax
    iret
n0: db 0
n3: db 0
n4: db 0
