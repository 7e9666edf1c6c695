; Self-modifying code: an instruction patched later in the same block, an immediate rewritten in a
; loop, a code buffer rewritten and re-run, REP MOVSB copying code over code about to run, and code
; written through a second linear mapping of the same physical page.
; EXPECT: same block: 42
; EXPECT: loop sum: 0000002D
; EXPECT: buffer: 00000011 then 00000022
; EXPECT: rep movsb over code: 00000077
; EXPECT: alias write: 00000099
; EXPECT: done
%include "common.inc"
%include "pm32.inc"

pm_main:
    ; 1. patch the immediate of an instruction a few bytes ahead (same block)
    mov byte [.t1 + 1], 0x42
.t1: mov al, 0x00
    mov bl, al
    PRINT "same block: "
    mov al, bl
    shr al, 4
    add al, '0'
    out PORT_OUT, al
    mov al, bl
    and al, 15
    add al, '0'
    out PORT_OUT, al
    mov al, 10
    out PORT_OUT, al

    ; 2. loop: each iteration writes the next immediate into its own ADD
    xor ebx, ebx
    xor ecx, ecx
.loop:
    mov [.t2 + 2], cl                    ; add ebx, imm8 (83 C3 ib)
.t2: add ebx, 0
    inc ecx
    cmp ecx, 10
    jb .loop
    PRINT "loop sum: "
    mov eax, ebx
    call phex32
    mov al, 10
    out PORT_OUT, al

    ; 3. a code buffer run, rewritten, run again
    mov edi, 0x90000
    mov dword [edi], 0x000011B8          ; mov eax, 0x11
    mov dword [edi + 4], 0xC3000000      ; ... ; ret
    call edi
    mov esi, eax
    mov byte [0x90001], 0x22
    call edi
    mov ebp, eax
    PRINT "buffer: "
    mov eax, esi
    call phex32
    PRINT " then "
    mov eax, ebp
    call phex32
    mov al, 10
    out PORT_OUT, al

    ; 4. REP MOVSB writing over the instructions that follow it
    mov esi, .src
    mov edi, .dst
    mov ecx, .src_end - .src
    cld
    rep movsb
.dst:
    mov eax, 0x66                        ; replaced by "mov eax, 0x77"
    jmp .after
.src:
    mov eax, 0x77
.src_end:
.after:
    mov ebp, eax
    PRINT "rep movsb over code: "
    mov eax, ebp
    call phex32
    mov al, 10
    out PORT_OUT, al

    ; 5. paging alias: linear 0x400000 and 0x800000 both map physical 0x90000's page
    mov edi, 0x200000
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov edi, 0x201000
    mov eax, 0x3
    mov ecx, 1024
.pt: stosd
    add eax, 0x1000
    loop .pt
    mov dword [0x200000], 0x201003                   ; 0..4 MiB identity
    mov dword [0x202000], 0x90003                    ; a table whose first entry maps 0x90000
    mov dword [0x200000 + 1 * 4], 0x202003           ; 4 MiB -> 0x90000
    mov dword [0x200000 + 2 * 4], 0x202003           ; 8 MiB -> 0x90000 too
    mov eax, 0x200000
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax
    mov dword [0x400000], 0x000055B8                 ; mov eax, 0x55 ; ret
    mov dword [0x400004], 0xC3000000
    mov eax, 0x400000
    call eax                                         ; runs (and caches) the code
    mov byte [0x800001], 0x99                        ; rewrite through the other mapping
    mov eax, 0x400000
    call eax
    mov ebp, eax
    PRINT "alias write: "
    mov eax, ebp
    call phex32
    mov al, 10
    out PORT_OUT, al
    PRINTLN "done"
    EXIT 0
