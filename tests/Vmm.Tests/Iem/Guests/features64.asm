; Features the CPU model advertises, used from 64-bit code: CPUID leaves, RDTSCP with TSC_AUX,
; RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE with CR4.FSGSBASE, SWAPGS, CMPXCHG16B (and its #GP on a
; misaligned operand), MOVBE, POPCNT, LZCNT, BSF/BSR, BT family on memory with a register offset,
; XADD, and LOCK-prefixed RMW on a page-crossing operand.
; EXPECT: cpuid: GenuineIntel lm nx syscall sse2 cx16 popcnt movbe smep smap fsgsbase
; EXPECT: rdtscp aux=0000000000000042, tsc advances
; EXPECT: fs/gs base ok, swapgs ok
; EXPECT: cmpxchg16b ok, misaligned #GP
; EXPECT: movbe 0000000012345678, popcnt 0000000000000020, lzcnt 000000000000001B
; EXPECT: bsf 0000000000000004 bsr 000000000000003F, bts/btr/btc on memory ok
; EXPECT: xadd ok, locked page-crossing add ok
; EXPECT: vec=0D err=00000000
; EXPECT: done
%include "common.inc"
%include "lm64.inc"

lm_main:
    ; ---- CPUID ----
    xor eax, eax
    cpuid
    mov [vendor], ebx
    mov [vendor + 4], edx
    mov [vendor + 8], ecx
    PRINT "cpuid: "
    mov ecx, 12
    mov rsi, vendor
.v: lodsb
    out PORT_OUT, al
    loop .v
    mov eax, 0x80000001
    cpuid
    bt edx, 29
    CHECK c, "lm"
    PRINT " lm"
    bt edx, 20
    CHECK c, "nx"
    PRINT " nx"
    bt edx, 11
    CHECK c, "syscall"
    PRINT " syscall"
    mov eax, 1
    cpuid
    bt edx, 26
    CHECK c, "sse2"
    PRINT " sse2"
    bt ecx, 13
    CHECK c, "cx16"
    PRINT " cx16"
    bt ecx, 23
    CHECK c, "popcnt"
    PRINT " popcnt"
    bt ecx, 22
    CHECK c, "movbe"
    PRINT " movbe"
    mov eax, 7
    xor ecx, ecx
    cpuid
    bt ebx, 7
    CHECK c, "smep"
    PRINT " smep"
    bt ebx, 20
    CHECK c, "smap"
    PRINT " smap"
    bt ebx, 0
    CHECK c, "fsgsbase"
    PRINTLN " fsgsbase"

    ; ---- RDTSCP ----
    mov ecx, 0xC0000103
    mov eax, 0x42
    xor edx, edx
    wrmsr
    rdtscp
    shl rdx, 32
    or rax, rdx
    mov rbx, rax
    mov rdi, rcx
    rdtscp
    shl rdx, 32
    or rax, rdx
    cmp rax, rbx
    CHECK a, "TSC advances"
    PRINT "rdtscp aux="
    mov rax, rdi
    call phex64
    PRINTLN ", tsc advances"

    ; ---- FS/GS base ----
    mov rax, cr4
    or rax, 1 << 16
    mov cr4, rax
    mov rax, 0x123456789000
    wrfsbase rax
    mov rbx, 0x2000
    wrgsbase rbx
    mov qword [0x2000 + 8], 0xABCD
    mov rax, [gs:8]
    cmp rax, 0xABCD
    CHECK e, "gs: uses the new base"
    rdfsbase rcx
    mov rax, 0x123456789000
    cmp rcx, rax
    CHECK e, "rdfsbase"
    mov ecx, 0xC0000100
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov rcx, 0x123456789000
    cmp rax, rcx
    CHECK e, "FS_BASE MSR matches"
    mov ecx, 0xC0000102                  ; KERNEL_GS_BASE
    mov eax, 0x3000
    xor edx, edx
    wrmsr
    mov qword [0x3000 + 8], 0x5555
    swapgs
    mov rax, [gs:8]
    cmp rax, 0x5555
    CHECK e, "swapgs"
    swapgs
    rdgsbase rax
    cmp rax, 0x2000
    CHECK e, "swapgs back"
    PRINTLN "fs/gs base ok, swapgs ok"

    ; ---- CMPXCHG16B ----
    mov qword [cx16buf], 1
    mov qword [cx16buf + 8], 2
    mov rax, 1
    mov rdx, 2
    mov rbx, 0x11
    mov rcx, 0x22
    lock cmpxchg16b [cx16buf]
    CHECK e, "cmpxchg16b equal"
    cmp qword [cx16buf + 8], 0x22
    CHECK e, "cmpxchg16b stored"
    mov rax, 5
    lock cmpxchg16b [cx16buf]
    CHECK ne, "cmpxchg16b not equal"
    cmp rax, 0x11
    CHECK e, "cmpxchg16b loaded"
    RECOVER .mis
    cmpxchg16b [cx16buf + 8]
.mis:
    PRINTLN "cmpxchg16b ok, misaligned #GP"

    ; ---- MOVBE / POPCNT / LZCNT / BSF / BSR ----
    mov dword [tmp], 0x78563412
    movbe eax, [tmp]
    mov r12, rax
    mov rax, 0x00000000FFFFFFFF
    popcnt r13, rax
    mov eax, 0x10
    lzcnt r14d, eax
    PRINT "movbe "
    mov rax, r12
    call phex64
    PRINT ", popcnt "
    mov rax, r13
    call phex64
    PRINT ", lzcnt "
    mov rax, r14
    call phex64
    mov al, 10
    out PORT_OUT, al
    mov rax, 0x8000000000000010
    bsf r12, rax
    bsr r13, rax
    PRINT "bsf "
    mov rax, r12
    call phex64
    PRINT " bsr "
    mov rax, r13
    call phex64
    ; BT family with a register bit offset reaching past the operand (and a negative one)
    mov qword [bitbuf], 0
    mov qword [bitbuf + 8], 0
    mov rax, 70
    bts [bitbuf], rax                      ; bit 6 of the second qword
    cmp qword [bitbuf + 8], 0x40
    CHECK e, "bts reaches the next qword"
    mov rax, -1
    lea rbx, [bitbuf + 8]
    bts [rbx], rax                       ; bit 63 of the first qword
    bt qword [bitbuf], 63
    CHECK c, "negative bit offset"
    btr qword [bitbuf], 63
    CHECK c, "btr returns the old bit"
    btc qword [bitbuf + 8], 0
    cmp qword [bitbuf + 8], 0x41
    CHECK e, "btc"
    PRINTLN ", bts/btr/btc on memory ok"

    ; ---- XADD and a locked add that crosses a page ----
    mov qword [tmp], 10
    mov rax, 5
    lock xadd [tmp], rax
    cmp rax, 10
    CHECK e, "xadd returns the old value"
    cmp qword [tmp], 15
    CHECK e, "xadd stores the sum"
    mov rdi, 0x200FFC                    ; 8 bytes across 0x201000
    mov eax, 0xFFFFFFFF                  ; (a 32-bit immediate to a qword would sign-extend)
    mov [rdi], rax
    lock add qword [rdi], 1
    mov rax, [rdi]
    mov rcx, 0x0000000100000000
    cmp rax, rcx
    CHECK e, "page-crossing lock add"
    PRINTLN "xadd ok, locked page-crossing add ok"
    call report
    PRINTLN "done"
    EXIT 0

align 16
cx16buf: dq 0, 0, 0, 0
bitbuf: dq 0, 0
tmp: dq 0
vendor: times 12 db 0
