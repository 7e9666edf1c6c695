; PAE paging in 32-bit protected mode: PDPT, 2 MiB and 4 KiB pages, A/D bits, NX with EFER.NXE
; (#PF with I/D), a not-present PDPTE, and a reserved bit (#PF with RSVD).
; EXPECT: pae 4k A=1 D=1, 2m A=1 D=0
; EXPECT: vec=0E err=00000011 cr2=00600000
; EXPECT: vec=0E err=00000000 cr2=40000000
; EXPECT: vec=0E err=00000009 cr2=00800000
; EXPECT: done
%include "common.inc"
%include "pm32.inc"

%define PDPT 0x200000
%define PDA  0x201000                    ; PD for 0..1 GiB
%define PTA  0x202000                    ; PT for 0x400000..0x5FFFFF

pm_main:
    mov edi, PDPT
    mov ecx, 0x3000 / 4
    xor eax, eax
    rep stosd
    mov dword [PDPT], PDA | 1             ; PDPTE 0; PDPTE 1 (1..2 GiB) not present
    ; PD: 2 MiB identity pages for 0..2 MiB and 2..4 MiB; a PT for 4..6 MiB
    mov dword [PDA + 0 * 8], 0x000083
    mov dword [PDA + 1 * 8], 0x200083
    mov dword [PDA + 2 * 8], PTA | 3
    mov dword [PDA + 3 * 8], 0x600083     ; NX set below
    mov dword [PDA + 3 * 8 + 4], 0x80000000
    mov dword [PDA + 4 * 8], 0x800083     ; reserved bit 13 set below (2 MiB page: bits 20..13 reserved)
    or dword [PDA + 4 * 8], 1 << 13
    mov dword [PDA + 5 * 8], 0xA00003 | 0x80   ; A=D=0 2 MiB page
    mov edi, PTA
    mov eax, 0x400003
    mov ecx, 512
.pt: mov [edi], eax
    mov dword [edi + 4], 0
    add eax, 0x1000
    add edi, 8
    loop .pt
    mov ecx, 0xC0000080
    rdmsr
    or eax, 1 << 11                       ; NXE
    wrmsr
    mov eax, cr4
    or eax, 1 << 5                        ; PAE
    mov cr4, eax
    mov eax, PDPT
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax

    mov dword [0x400000], 1               ; 4 KiB page: A and D
    mov eax, [0xA00000]                   ; 2 MiB page: A only
    PRINT "pae 4k A="
    mov eax, [PTA]
    call bit5
    PRINT " D="
    mov eax, [PTA]
    shr eax, 1
    call bit5
    PRINT ", 2m A="
    mov eax, [PDA + 5 * 8]
    call bit5
    PRINT " D="
    mov eax, [PDA + 5 * 8]
    shr eax, 1
    call bit5
    mov al, 10
    out PORT_OUT, al
    ; NX
    mov byte [0x600000], 0xC3
    RECOVER .a
    mov eax, 0x600000
    call eax
.a: call report_pf
    ; not-present PDPTE
    RECOVER .b
    mov eax, [0x40000000]
.b: call report_pf
    ; reserved bit in a PDE
    RECOVER .c
    mov eax, [0x800000]
.c: call report_pf
    PRINTLN "done"
    EXIT 0

bit5:
    shr eax, 5
    and al, 1
    add al, '0'
    out PORT_OUT, al
    ret
report_pf:
    PRINT "vec="
    mov eax, [got_vec]
    shl eax, 24
    call phex8
    PRINT " err="
    mov eax, [got_err]
    call phex32
    PRINT " cr2="
    mov eax, cr2
    call phex32
    mov al, 10
    out PORT_OUT, al
    ret
