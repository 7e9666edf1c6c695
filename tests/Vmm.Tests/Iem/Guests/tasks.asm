; Hardware task switches (32-bit TSS): JMP to a TSS and back, CALL (NT, back link) and IRET
; returning to the caller, an exception through a task gate, CR0.TS set by every switch.
; EXPECT: in task B (jmp), NT=0
; EXPECT: back in task A, TS=1
; EXPECT: in task B again (call), NT=1 link=0028
; EXPECT: back in task A after iret, B not busy
; EXPECT: in task C (divide error through a task gate), link=0028
; EXPECT: task A resumed after the fault
; EXPECT: done
%include "common.inc"
%macro GDT_USER 0
    DESC 0, 103, ACC_TSS, 0             ; 30: TSS B (base patched)
    DESC 0, 103, ACC_TSS, 0             ; 38: TSS C (base patched)
%endmacro
%include "pm32.inc"

%macro SET_TSS_BASE 2                   ; selector, address
    mov eax, %2
    mov [gdt + %1 + 2], ax
    shr eax, 16
    mov [gdt + %1 + 4], al
    mov [gdt + %1 + 7], ah
%endmacro
%macro INIT_TSS 3                       ; tss, eip, esp
    mov dword [%1 + 0x20], %2            ; EIP
    mov dword [%1 + 0x24], 2             ; EFLAGS
    mov dword [%1 + 0x38], %3            ; ESP
    mov eax, cr3
    mov [%1 + 0x1C], eax
    mov word [%1 + 0x4C], 0x08           ; CS
    mov word [%1 + 0x48], 0x10           ; ES
    mov word [%1 + 0x50], 0x10           ; SS
    mov word [%1 + 0x54], 0x10           ; DS
    mov word [%1 + 0x58], 0x10           ; FS
    mov word [%1 + 0x5C], 0x10           ; GS
    mov word [%1 + 0x66], 104
%endmacro

pm_main:
    SET_TSS_BASE 0x30, tss_b
    SET_TSS_BASE 0x38, tss_c
    INIT_TSS tss_b, task_b, 0x50000
    INIT_TSS tss_c, task_c, 0x48000
    ; gate 0 (#DE) becomes a task gate to TSS C
    mov dword [idt + 0], 0x00380000
    mov dword [idt + 4], 0x00008500
    jmp 0x30:0
    ; task A resumes here when B jumps back
    mov eax, cr0
    PRINT "back in task A, TS="
    shr eax, 3
    and al, 1
    add al, '0'
    out PORT_OUT, al
    mov al, 10
    out PORT_OUT, al
    clts
    call 0x30:0
    ; back from B's IRET
    test byte [gdt + 0x30 + 5], 2
    CHECK z, "TSS B busy after iret"
    pushfd
    pop eax
    test eax, 1 << 14
    CHECK z, "NT set in task A"
    PRINTLN "back in task A after iret, B not busy"
    xor ecx, ecx
    div ecx                              ; #DE -> task C (which moves our EIP past this DIV)
    PRINTLN "task A resumed after the fault"
    PRINTLN "done"
    EXIT 0

task_b:
    PRINT "in task B (jmp), NT="
    call print_nt
    mov al, 10
    out PORT_OUT, al
    jmp 0x28:0                           ; back to A
    ; the CALL lands here
    PRINT "in task B again (call), NT="
    call print_nt
    PRINT " link="
    movzx eax, word [tss_b]
    shl eax, 16
    mov edx, eax
    mov ecx, 4
    call phex32.l
    mov al, 10
    out PORT_OUT, al
    iretd
    FAIL "iret from task B fell through"

task_c:
    PRINT "in task C (divide error through a task gate), link="
    movzx eax, word [tss_c]
    shl eax, 16
    mov edx, eax
    mov ecx, 4
    call phex32.l
    mov al, 10
    out PORT_OUT, al
    add dword [tss + 0x20], 2             ; A's saved EIP: skip "div ecx" (F7 F1)
    iretd
    FAIL "iret from task C fell through"

print_nt:
    pushfd
    pop eax
    shr eax, 14
    and al, 1
    add al, '0'
    out PORT_OUT, al
    ret

align 16
tss_b: times 104 db 0
align 16
tss_c: times 104 db 0
