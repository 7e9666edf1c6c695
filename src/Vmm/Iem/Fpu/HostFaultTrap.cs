namespace SharpBox.Vmm.Iem.Fpu;

/// <summary>
/// Lets a stub execute a guest instruction on the host even when the host would fault: an SSE operation
/// with an exception the guest unmasked in MXCSR raises #XM (SIGFPE), an opcode the host lacks raises
/// #UD (SIGILL). Handlers for SIGFPE and SIGILL, written in machine code, check whether the fault is
/// inside the stub arena; if so they resume at the address the stub put in R11 with RAX = the signal
/// number, otherwise they chain to the handler that was installed before (the .NET runtime's), so
/// managed code (integer divide by zero, for instance) behaves exactly as without us.
/// </summary>
public static unsafe class HostFaultTrap
{
    public const int SIGILL = 4, SIGFPE = 8;
    static readonly object s_lock = new();
    static volatile bool s_installed;

    /// <summary>Installs the handlers once per process. Stubs that may fault call this before first use.</summary>
    public static void EnsureInstalled()
    {
        if (s_installed) return;
        lock (s_lock)
        {
            if (s_installed) return;
            Install(SIGFPE);
            Install(SIGILL);
            s_installed = true;
        }
    }

    static void Install(int sig)
    {
        // Data: [0] the previous handler, [8..40) a zeroed kernel sigaction (SIG_DFL) for the fallback.
        var (rwData, rxData) = HostCode.AllocData(48);
        nint arenaBase = HostCode.Base;
        var c = new CodeBuf(stackalloc byte[160]);
        // rdi = signo, rsi = siginfo, rdx = ucontext; RIP is gregs[16] at +168, R11 gregs[3] at +64, RAX gregs[13] at +144.
        c.B([0x48, 0x8B, 0x82, 0xA8, 0, 0, 0]);         // mov rax, [rdx+168]
        c.B([0x48, 0xB9]); c.Q(arenaBase);              // mov rcx, arena base
        c.B([0x48, 0x29, 0xC8]);                        // sub rax, rcx
        c.B([0x48, 0x3D]); c.D(HostCode.Size);          // cmp rax, arena size
        int toChain = c.Jcc8(0x73);                     // jae chain
        c.B([0x48, 0x8B, 0x42, 0x40]);                  // mov rax, [rdx+64]      (R11 = recovery address)
        c.B([0x48, 0x89, 0x82, 0xA8, 0, 0, 0]);         // mov [rdx+168], rax     (RIP = recovery)
        c.B([0x48, 0x89, 0xBA, 0x90, 0, 0, 0]);         // mov [rdx+144], rdi     (RAX = signal number)
        c.B(0xC3);                                      // ret
        c.Bind8(toChain);
        c.B([0x48, 0xB8]); c.Q(rxData);                 // chain: mov rax, &previous
        c.B([0x48, 0x8B, 0x00]);                        // mov rax, [rax]
        c.B([0x48, 0x83, 0xF8, 0x01]);                  // cmp rax, 1 (SIG_DFL / SIG_IGN)
        int toDefault = c.Jcc8(0x76);                   // jbe restore-default
        c.B([0xFF, 0xE0]);                              // jmp rax (same arguments, same stack)
        c.Bind8(toDefault);
        // No previous handler: restore the default action and return, so the fault repeats and is fatal
        // exactly as it would have been without us.
        c.B([0x48, 0xBE]); c.Q(rxData + 8);             // mov rsi, &kernel sigaction {SIG_DFL}
        c.B([0x31, 0xD2]);                              // xor edx, edx
        c.B([0x41, 0xBA, 8, 0, 0, 0]);                  // mov r10d, 8 (sizeof sigset)
        c.B([0xB8, 13, 0, 0, 0]);                       // mov eax, SYS_rt_sigaction
        c.B([0x0F, 0x05]);                              // syscall
        c.B(0xC3);
        nint handler = HostCode.Emit(c.Code);

        byte* act = stackalloc byte[152];
        byte* old = stackalloc byte[152];
        new Span<byte>(act, 152).Clear();
        new Span<byte>(old, 152).Clear();
        // Publish the previous handler before ours can run: read it first, then swap.
        if (HostCode.Native.sigaction(sig, null, old) != 0)
            throw new InvalidOperationException($"sigaction({sig}) query failed");
        *(nint*)rwData = *(nint*)old;
        // Same mask and flags as the handler we chain to (the runtime's SIGFPE handler must run on the
        // thread's own stack, not a small alternate one), plus SA_SIGINFO for the context argument.
        new Span<byte>(old, 152).CopyTo(new Span<byte>(act, 152));
        *(nint*)act = handler;
        *(int*)(act + 136) |= 0x04;                             // SA_SIGINFO
        *(nint*)(act + 144) = 0;                                // libc supplies its own restorer
        if (HostCode.Native.sigaction(sig, act, old) != 0)
            throw new InvalidOperationException($"sigaction({sig}) install failed");
        *(nint*)rwData = *(nint*)old;
    }
}
