; 4-level paging: 4 KiB, 2 MiB and 1 GiB pages, A/D bits, NX (#PF with I/D), SMEP, SMAP with
; STAC/CLAC, CR0.WP, non-canonical addresses (#GP / #SS), INVLPG.
; EXPECT: 4k A=1 D=1 2m A=1 D=1 1g 5A5A5A5A
; EXPECT: vec=0E err=00000011 cr2=0000000000600000
; EXPECT: vec=0E err=00000011 cr2=0000000000800000
; EXPECT: vec=0E err=00000001 cr2=0000000000A00000
; EXPECT: smap stac read 77777777
; EXPECT: vec=0E err=00000003 cr2=0000000000C00000
; EXPECT: vec=0D err=00000000
; EXPECT: vec=0C err=00000000
; EXPECT: vec=0E err=00000005 cr2=0000000000E00000
; EXPECT: vec=0E err=00000015 cr2=0000000000600000
; EXPECT: done
%include "common.inc"
%include "lm64.inc"

%define PT1   0x103000        ; 4 KiB table for 0x400000..0x5FFFFF
%define PDPT1 0x104000        ; a 1 GiB page at 512 GiB.. (PML4[1])

lm_main:
    ; PD[2] (0x400000) -> 4 KiB page table, identity, user/writable; test page 0x400000 A=D=0
    mov rdi, PT1
    mov eax, 0x400007
    mov ecx, 512
.pt: mov [rdi], rax
    add rax, 0x1000
    add rdi, 8
    loop .pt
    mov qword [PT1], 0x400003          ; supervisor, writable, not accessed
    mov qword [PD0 + 2 * 8], PT1 | 7
    mov rax, 0x600000 | 0x83 | (1 << 63)                   ; 2 MiB NX page (supervisor)
    mov [PD0 + 3 * 8], rax
    mov qword [PD0 + 4 * 8], 0x800000 | 0x87               ; 2 MiB user page (for SMEP/SMAP)
    mov qword [PD0 + 5 * 8], 0xA00000 | 0x87               ; user page (SMAP)
    mov qword [PD0 + 6 * 8], 0xC00000 | 0x81               ; supervisor read-only
    mov qword [PD0 + 7 * 8], 0xE00000 | 0x81               ; supervisor read-only
    mov qword [PD0 + 8 * 8], 0x1000000 | 0x83              ; 2 MiB page, A=D=0
    ; PML4[1] -> PDPT1 with a 1 GiB page mapping 512 GiB -> physical 0
    mov qword [PML4 + 8], PDPT1 | 7
    mov qword [PDPT1], 0x83
    mov rax, cr3
    mov cr3, rax

    mov eax, [0x400000]
    mov dword [0x400000], 1
    mov eax, [0x1000000]
    mov dword [0x1000000], 1
    mov dword [0x7000], 0x5A5A5A5A
    mov rsi, (512 << 30) + 0x7000      ; through the 1 GiB page
    PRINT "4k A="
    mov rax, [PT1]
    call bits_ad
    PRINT " 2m A="
    mov rax, [PD0 + 8 * 8]
    call bits_ad
    PRINT " 1g "
    mov eax, [rsi]
    shl rax, 32
    mov rdx, rax
    mov ecx, 8
    call phex64.l
    mov al, 10
    out PORT_OUT, al

    ; NX: executing in the NX page
    mov byte [0x600000], 0xC3
    RECOVER .a
    mov rax, 0x600000
    call rax
.a: call report_pf
    ; SMEP: supervisor fetch from a user page (our own code page becomes supervisor-only first)
    mov byte [0x800000], 0xC3
    mov qword [PD0], 0x83
    mov rax, cr3
    mov cr3, rax
    mov rax, cr4
    or rax, 1 << 20
    mov cr4, rax
    RECOVER .b
    mov rax, 0x800000
    call rax
.b: call report_pf
    ; SMAP: supervisor read of a user page with AC=0 faults; with STAC it works
    mov dword [0xA00000], 0x77777777
    mov rax, cr4
    or rax, 1 << 21
    mov cr4, rax
    RECOVER .c
    mov eax, [0xA00000]
.c: call report_pf
    stac
    mov esi, [0xA00000]
    clac
    PRINT "smap stac read "
    mov rax, rsi
    shl rax, 32
    mov rdx, rax
    mov ecx, 8
    call phex64.l
    mov al, 10
    out PORT_OUT, al
    mov rax, cr4
    and rax, ~((1 << 20) | (1 << 21))
    mov cr4, rax
    mov qword [PD0], 0x87
    mov rax, cr3
    mov cr3, rax
    ; CR0.WP: supervisor write to a read-only page
    mov rax, cr0
    or rax, 1 << 16
    mov cr0, rax
    RECOVER .d
    mov dword [0xC00000], 1
.d: call report_pf
    ; non-canonical: #GP for data, #SS for the stack
    RECOVER .e
    mov rax, 0x0000800000000000
    mov eax, [rax]
.e: call report
    mov byte [idt + 12 * 16 + 4], 1     ; #SS on IST1: the faulting stack is unusable
    RECOVER .f
    mov rax, 0x0000800000000008
    mov rbx, rsp
    mov rsp, rax
    push rax
.f: mov rsp, rbx
    call report
    ; user mode: read a supervisor page, then fetch from a supervisor NX page
    TO_RING3 .user
.user:
    RECOVER .u1
    mov eax, [0xE00000]
.u1: TO_RING0 .r0a
.r0a:
    call report_pf
    TO_RING3 .user2
.user2:
    RECOVER .u2
    mov rax, 0x600000
    call rax
.u2: TO_RING0 .r0b
.r0b:
    call report_pf
    PRINTLN "done"
    EXIT 0

bits_ad:                                ; "A" and " D=" from the entry in RAX
    mov rbx, rax
    shr rax, 5
    and al, 1
    add al, '0'
    out PORT_OUT, al
    PRINT " D="
    mov rax, rbx
    shr rax, 6
    and al, 1
    add al, '0'
    out PORT_OUT, al
    ret
report_pf:
    PRINT "vec="
    mov rax, [got_vec]
    shl rax, 56
    call phex8
    PRINT " err="
    mov rax, [got_err]
    shl rax, 32
    mov rdx, rax
    mov ecx, 8
    call phex64.l
    PRINT " cr2="
    mov rax, cr2
    call phex64
    mov al, 10
    out PORT_OUT, al
    ret
