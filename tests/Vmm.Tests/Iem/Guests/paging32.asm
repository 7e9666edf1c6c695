; 32-bit two-level paging: 4 KiB and 4 MiB (PSE) pages, accessed/dirty bits written back,
; #PF error codes and CR2 (not present, read-only with CR0.WP, user vs supervisor), INVLPG.
; EXPECT: A=1 D=0
; EXPECT: A=1 D=1
; EXPECT: pde4m A=1 D=1
; EXPECT: vec=0E err=00000000 cr2=00310000
; EXPECT: vec=0E err=00000002 cr2=00310004
; EXPECT: wp0 write ok
; EXPECT: vec=0E err=00000003 cr2=00320000
; EXPECT: vec=0E err=00000005 cr2=00330000
; EXPECT: vec=0E err=00000007 cr2=00320008
; EXPECT: user read ok
; EXPECT: invlpg 22222222
; EXPECT: cr3 33333333
%include "common.inc"
%include "pm32.inc"

%define PD   0x200000
%define PT0  0x201000
%define PT_X 0x202000        ; a spare table for the CR3-reload test

pm_main:
    ; PD[0] -> PT0: identity 0..4 MiB, user/writable; PD[1] = 4 MiB page at 4 MiB.
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov edi, PT0
    mov eax, 0x7                      ; P | W | U
    mov ecx, 1024
.pt: stosd
    add eax, 0x1000
    loop .pt
    mov dword [PD], PT0 | 7
    mov dword [PD + 4], 0x400000 | 0x87   ; 4 MiB page: P | W | U | PS
    ; test pages
    mov dword [PT0 + (0x300000 >> 12) * 4], 0x300000 | 3   ; supervisor, writable, A=D=0
    mov dword [PT0 + (0x310000 >> 12) * 4], 0              ; not present
    mov dword [PT0 + (0x320000 >> 12) * 4], 0x320000 | 5   ; user, read-only
    mov dword [PT0 + (0x330000 >> 12) * 4], 0x330000 | 3   ; supervisor only
    mov eax, cr4
    or eax, 1 << 4                    ; PSE
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax

    ; accessed and dirty bits
    mov eax, [0x300000]
    call show_ad
    mov dword [0x300000], 1
    call show_ad
    mov eax, [0x500000]               ; in the 4 MiB page
    mov dword [0x500000], 2
    mov eax, [PD + 4]
    PRINT "pde4m A="
    call bit5
    PRINT " D="
    mov eax, [PD + 4]
    shr eax, 1
    call bit5
    mov al, 10
    out PORT_OUT, al

    ; not present: read, then write
    RECOVER .a
    mov eax, [0x310000]
.a: call report_pf
    RECOVER .b
    mov dword [0x310004], 5
.b: call report_pf
    ; read-only page, supervisor write: allowed with CR0.WP=0 ...
    mov dword [0x320000], 0x11
    PRINTLN "wp0 write ok"
    ; ... and a protection fault with WP=1
    mov eax, cr0
    or eax, 1 << 16
    mov cr0, eax
    RECOVER .c
    mov dword [0x320000], 0x22
.c: call report_pf

    ; user mode: read a supervisor page, write a read-only user page, read a user page
    mov dword [ring0_cont], .back
    TO_RING3 .user
.user:
    USER_SEGS
    RECOVER .u1
    mov eax, [0x330000]
.u1: RECOVER .u2
    TO_RING0 .r0a
.u2:
    USER_SEGS
    RECOVER .u3
    mov dword [0x320008], 1
.u3: TO_RING0 .r0b
.r0a:
    call report_pf
    TO_RING3 .u2
.r0b:
    call report_pf
    TO_RING3 .u4
.u4:
    USER_SEGS
    mov eax, [0x320000]
    cmp eax, 0x11
    jne .bad
    TO_RING0 .back
.bad:
    TO_RING0 .back_bad
.back_bad:
    FAIL "user read"
.back:
    PRINTLN "user read ok"

    ; INVLPG: remap 0x340000 from 0x341000 to 0x342000
    mov dword [0x341000], 0x11111111
    mov dword [0x342000], 0x22222222
    mov dword [PT0 + (0x340000 >> 12) * 4], 0x341000 | 3
    invlpg [0x340000]
    mov eax, [0x340000]
    cmp eax, 0x11111111
    CHECK e, "first mapping"
    mov dword [PT0 + (0x340000 >> 12) * 4], 0x342000 | 3
    invlpg [0x340000]
    PRINT "invlpg "
    mov eax, [0x340000]
    call phex32
    mov al, 10
    out PORT_OUT, al
    ; CR3 reload: another page directory mapping 0x340000 elsewhere
    mov dword [0x343000], 0x33333333
    mov esi, PD
    mov edi, PD + 0x3000              ; copy of the directory at 0x203000
    mov ecx, 1024
    rep movsd
    mov esi, PT0
    mov edi, PT_X
    mov ecx, 1024
    rep movsd
    mov dword [PT_X + (0x340000 >> 12) * 4], 0x343000 | 3
    mov dword [PD + 0x3000], PT_X | 7
    mov eax, PD + 0x3000
    mov cr3, eax
    PRINT "cr3 "
    mov eax, [0x340000]
    call phex32
    mov al, 10
    out PORT_OUT, al
    EXIT 0

show_ad:                              ; prints A and D of the PTE for 0x300000
    PRINT "A="
    mov eax, [PT0 + (0x300000 >> 12) * 4]
    call bit5
    PRINT " D="
    mov eax, [PT0 + (0x300000 >> 12) * 4]
    shr eax, 1
    call bit5
    mov al, 10
    out PORT_OUT, al
    ret
bit5:                                 ; prints bit 5 of EAX
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
