; Hardware breakpoints: an instruction breakpoint (#DB fault, DR6.B0, resumed with RF), a data write
; breakpoint (#DB trap after the store, DR6.B1), a read/write breakpoint hit by a read (DR6.B2), and
; no hit once DR7 disables them; plus a single-step trap reporting DR6.BS.
; EXPECT: exec bp: dr6 B0, eip at target, resumed once
; EXPECT: write bp: dr6 B1, trap after the store, value 77
; EXPECT: rw bp on read: dr6 B2
; EXPECT: disabled: no #DB
; EXPECT: single step: dr6 BS
; EXPECT: done
%include "common.inc"
%include "pm32.inc"

pm_main:
    ; #DB handler: records DR6 and the saved EIP, sets RF in the frame, clears TF
    mov eax, db_handler
    mov [idt + 1 * 8], ax
    shr eax, 16
    mov [idt + 1 * 8 + 6], ax
    ; 1. instruction breakpoint on "target"
    mov eax, target
    mov dr0, eax
    mov eax, 1                            ; L0, execute, len 1
    mov dr7, eax
    mov dword [db_count], 0
    call target
    mov eax, [db_dr6]
    test eax, 1
    CHECK nz, "DR6.B0"
    cmp dword [db_eip], target
    CHECK e, "fault EIP"
    cmp dword [db_count], 1
    CHECK e, "breakpoint fired once"
    PRINTLN "exec bp: dr6 B0, eip at target, resumed once"
    ; 2. write breakpoint on a dword (DR1)
    mov eax, wvar
    mov dr1, eax
    mov eax, (1 << 2) | (0x1 << 20) | (0x3 << 22)   ; L1, R/W=01 write, LEN=11 (4 bytes)
    mov dr7, eax
    mov dword [db_count], 0
    mov dword [wvar], 0x77
.after_store:
    nop
    cmp dword [db_count], 1
    CHECK e, "write breakpoint"
    mov eax, [db_dr6]
    test eax, 2
    CHECK nz, "DR6.B1"
    cmp dword [db_eip], .after_store
    CHECK e, "trap EIP after the store"
    PRINT "write bp: dr6 B1, trap after the store, value "
    mov al, [wvar]
    shr al, 4
    add al, '0'
    out PORT_OUT, al
    mov al, [wvar]
    and al, 15
    add al, '0'
    out PORT_OUT, al
    mov al, 10
    out PORT_OUT, al
    ; 3. read/write breakpoint (DR2) hit by a read
    mov eax, rvar
    mov dr2, eax
    mov eax, (1 << 4) | (0x3 << 24) | (0x0 << 26)    ; L2, R/W=11, LEN=00
    mov dr7, eax
    mov dword [db_count], 0
    mov eax, [rvar]
    nop
    cmp dword [db_count], 1
    CHECK e, "read breakpoint"
    mov eax, [db_dr6]
    test eax, 4
    CHECK nz, "DR6.B2"
    PRINTLN "rw bp on read: dr6 B2"
    ; 4. disabled
    xor eax, eax
    mov dr7, eax
    mov dword [db_count], 0
    mov eax, [rvar]
    mov dword [wvar], 1
    call target
    cmp dword [db_count], 0
    CHECK e, "no #DB with DR7 clear"
    PRINTLN "disabled: no #DB"
    ; 5. single step
    mov dword [db_count], 0
    pushfd
    or dword [esp], 0x100
    popfd
    nop
    cmp dword [db_count], 1
    CHECK e, "single-step trap"
    mov eax, [db_dr6]
    test eax, 1 << 14
    CHECK nz, "DR6.BS"
    PRINTLN "single step: dr6 BS"
    PRINTLN "done"
    EXIT 0

target:
    ret

db_handler:
    push eax
    mov eax, dr6
    mov [db_dr6], eax
    mov eax, 0xFFFF0FF0                   ; the handler clears DR6
    mov dr6, eax
    mov eax, [esp + 4]
    mov [db_eip], eax
    or dword [esp + 12], 1 << 16          ; RF: do not re-fire the instruction breakpoint
    and dword [esp + 12], ~0x100          ; stop single-stepping
    inc dword [db_count]
    pop eax
    iretd

align 4
db_dr6: dd 0
db_eip: dd 0
db_count: dd 0
wvar: dd 0
rvar: dd 0x12345678
