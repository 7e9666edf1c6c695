; Interrupts in real mode: an interrupt raised by another thread while the guest spins, HLT woken
; by an interrupt, an NMI while running and an NMI waking HLT with IF=0. Each checkpoint asks the
; test to raise something 20 ms later (checkpoints 1, 2: INTR vector 0x40; 3: NMI).
; EXPECT: spin: irq taken
; EXPECT: hlt: woken by irq
; EXPECT: nmi: taken
; EXPECT: hlt with IF=0: woken by nmi
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
    mov word [0x40 * 4], irq_handler
    mov word [0x40 * 4 + 2], 0
    mov word [2 * 4], nmi_handler
    mov word [2 * 4 + 2], 0
    sti
    CHECKPOINT                          ; 1: the test raises vector 0x40 from another thread
.spin:
    cmp byte [irqs], 1
    jne .spin
    PRINTLN "spin: irq taken"
    CHECKPOINT                          ; 2: raised again while we halt
    hlt
    cmp byte [irqs], 2
    je .ok2
    FAIL "hlt resumed without the interrupt"
.ok2:
    PRINTLN "hlt: woken by irq"
    out PORT_NMI, al
    mov cx, 1000                        ; taken at the next instruction on KVM, at a block end on IEM
.w3: cmp byte [nmis], 1
    je .ok3
    loop .w3
    FAIL "nmi not taken"
.ok3:
    PRINTLN "nmi: taken"
    cli
    CHECKPOINT                          ; 3: NMI from another thread while halted with IF=0
    hlt
    cmp byte [nmis], 2
    je .ok4
    PRINT "nmis="
    mov al, [nmis]
    add al, '0'
    out PORT_OUT, al
    FAIL "hlt resumed without the nmi"
.ok4:
    PRINTLN "hlt with IF=0: woken by nmi"
    PRINTLN "done"
    EXIT 0

irq_handler:
    inc byte [irqs]
    iret
nmi_handler:
    inc byte [nmis]
    iret
irqs: db 0
nmis: db 0
