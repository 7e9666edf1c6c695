; Ring 3 in long mode: SYSCALL/SYSRET to 64-bit and compatibility-mode user code, interrupts from
; ring 3 with the TSS stack switch (RSP0) and IST, privileged instructions faulting at CPL 3, #AC.
; EXPECT: syscall rcx ok r11 ok cs=0010 ss=0018
; EXPECT: back in user 64 rax=0000000000001234 cs=0033
; EXPECT: compat user via sysret32 cs=0023
; EXPECT: int from ring 3: rsp0 stack ok, ss=0000
; EXPECT: user #GP faults=2
; EXPECT: vec=0D err=00000000
; EXPECT: vec=11 err=00000000
; EXPECT: ist stack ok
; EXPECT: done
%include "common.inc"
%include "lm64.inc"

lm_main:
    ; LSTAR / SFMASK (clear IF, TF, AC on entry)
    mov ecx, 0xC0000082
    mov rax, syscall_entry
    mov rdx, rax
    shr rdx, 32
    wrmsr
    mov ecx, 0xC0000084
    mov eax, 0x40300
    xor edx, edx
    wrmsr
    TO_RING3 user1
user1:
    mov rbx, rsp
    mov rax, 0x1234
    syscall
.after_sys:
    ; back from SYSRETQ
    mov [saved_rax], rax
    mov ax, cs
    mov [saved_cs], ax
    TO_RING0 after_user1

syscall_entry:                          ; CPL 0, RCX = return RIP, R11 = RFLAGS
    mov [sys_rcx], rcx
    mov [sys_r11], r11
    mov ax, cs
    mov [sys_cs], ax
    mov ax, ss
    mov [sys_ss], ax
    mov rax, 0x1234
    o64 sysret

after_user1:
    PRINT "syscall rcx "
    mov rax, [sys_rcx]
    cmp rax, user1.after_sys
    jne .bad
    PRINT "ok r11 "
    mov rax, [sys_r11]
    test eax, 2                          ; user RFLAGS: fixed bit set, RF clear
    jz .bad
    test eax, 0x10000
    jnz .bad
    PRINT "ok cs="
    movzx eax, word [sys_cs]
    call phex16
    PRINT " ss="
    movzx eax, word [sys_ss]
    call phex16
    mov al, 10
    out PORT_OUT, al
    PRINT "back in user 64 rax="
    mov rax, [saved_rax]
    call phex64
    PRINT " cs="
    movzx eax, word [saved_cs]
    call phex16
    mov al, 10
    out PORT_OUT, al
    jmp part2
.bad:
    FAIL "syscall state"

part2:
    ; SYSRET without REX.W returns to 32-bit compatibility user code
    mov rax, part3
    mov [ring0_cont], rax
    mov rcx, compat_user
    mov r11, 0x2
    mov rsp, 0x60000
    sysret
bits 32
compat_user:
    mov ax, cs
    mov [saved_cs], ax
    mov ax, 0x2B
    mov ds, ax
    int 31                               ; gate 31 is a 64-bit gate: back to ring 0
bits 64
part3:
    PRINT "compat user via sysret32 cs="
    movzx eax, word [saved_cs]
    call phex16
    mov al, 10
    out PORT_OUT, al
    ; interrupt from ring 3: the handler runs on RSP0 with a null SS (gate 30, DPL 3)
    mov rax, int_handler
    mov word [idt + 30 * 16], ax
    shr rax, 16
    mov word [idt + 30 * 16 + 6], ax
    shr rax, 16
    mov dword [idt + 30 * 16 + 8], eax
    mov byte [idt + 30 * 16 + 5], 0xEE
    mov rax, [xcount]
    mov [xcount0], rax
    TO_RING3 user3
user3:
    int 30
    ; privileged instructions at CPL 3: #GP(0)
    RECOVER .p1
    hlt
.p1: RECOVER .p2
    cli
.p2: TO_RING0 after3
int_handler:
    mov rax, rsp
    and rax, ~0xFFF
    mov [int_rsp_page], rax
    mov ax, ss
    mov [int_ss], ax
    iretq
after3:
    PRINT "int from ring 3: rsp0 stack "
    mov rax, [int_rsp_page]
    cmp rax, 0x6F000
    jne .bad3
    PRINT "ok, ss="
    movzx eax, word [int_ss]
    call phex16
    mov al, 10
    out PORT_OUT, al
    PRINT "user #GP faults="
    mov rax, [xcount]
    sub rax, [xcount0]
    add al, '0'
    out PORT_OUT, al
    mov al, 10
    out PORT_OUT, al
    call report
    jmp part4
.bad3:
    FAIL "rsp0"
part4:
    ; #AC: CR0.AM, then in ring 3 with EFLAGS.AC a misaligned access
    mov rax, cr0
    or rax, 1 << 18
    mov cr0, rax
    TO_RING3 user4
user4:
    pushfq
    or qword [rsp], 1 << 18
    popfq
    RECOVER .a1
    mov eax, [0x60001]
.a1:
    pushfq
    and qword [rsp], ~(1 << 18)
    popfq
    TO_RING0 after4
after4:
    call report
    ; IST: gate 3 on IST1 (0x78000): INT3 from ring 0 lands on that stack
    mov rax, ist_handler
    mov word [idt + 3 * 16], ax
    mov byte [idt + 3 * 16 + 4], 1
    int3
    mov rax, [ist_rsp]
    and rax, ~0xFFF
    cmp rax, 0x77000
    CHECK e, "IST stack"
    PRINTLN "ist stack ok"
    PRINTLN "done"
    EXIT 0
ist_handler:
    mov [ist_rsp], rsp
    iretq

phex16:
    shl rax, 48
    mov rdx, rax
    mov ecx, 4
    jmp phex64.l

align 8
sys_rcx: dq 0
sys_r11: dq 0
saved_rax: dq 0
int_rsp_page: dq 0
xcount0: dq 0
ist_rsp: dq 0
sys_cs: dw 0
sys_ss: dw 0
saved_cs: dw 0
int_ss: dw 0
