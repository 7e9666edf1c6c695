namespace SharpBox.Vmm.Iem.Fpu;

/// <summary>What an x87 escape (D8..DF + ModRM) does, as far as the emulator around it must know.</summary>
public enum X87Op : byte
{
    Invalid,     // #UD (reserved encodings, measured on the host and matching the SDM opcode map)
    Host,        // register form: executed by the host FPU
    HostLoad,    // memory source of MemSize bytes, then the host FPU
    HostStore,   // host FPU writes MemSize bytes to memory
    Fldenv, Fldcw, Fnstenv, Fnstcw, Frstor, Fnsave, FnstswMem, FnstswAx, Fnclex, Fninit,
    FnNop,       // FNENI, FNDISI, FNSETPM: 8087/287 leftovers, no operation and no wait on 387 and later
}

public readonly record struct X87Form(X87Op Op, byte MemSize)
{
    /// <summary>Waiting instructions check for a pending unmasked exception (#MF) before they run.</summary>
    public bool Waits => Op is X87Op.Host or X87Op.HostLoad or X87Op.HostStore or X87Op.Fldenv or X87Op.Fldcw or X87Op.Frstor;
    /// <summary>Non-control instructions record FOP/FIP (and FDP for memory forms).</summary>
    public bool UpdatesPointers => Op is X87Op.Host or X87Op.HostLoad or X87Op.HostStore;
    public bool HasMemory => MemSize != 0 || Op is X87Op.Fldenv or X87Op.Fnstenv or X87Op.Frstor or X87Op.Fnsave;
}

public static class X87Forms
{
    static readonly X87Form[] s_mem = BuildMem();
    static readonly X87Form[] s_reg = BuildReg();

    /// <summary>Classifies opcode D8..DF with its ModRM byte (mod != 3: memory form by ModRM.reg).</summary>
    public static X87Form Classify(byte opcode, byte modrm)
    {
        int o = opcode - 0xD8;
        if ((uint)o > 7) return default;
        return modrm >= 0xC0 ? s_reg[o * 64 + (modrm - 0xC0)] : s_mem[o * 8 + ((modrm >> 3) & 7)];
    }

    static X87Form[] BuildMem()
    {
        var t = new X87Form[64];
        static X87Form L(byte n) => new(X87Op.HostLoad, n);
        static X87Form S(byte n) => new(X87Op.HostStore, n);
        for (int r = 0; r < 8; r++)
        {
            t[0 * 8 + r] = L(4);   // D8: arithmetic m32fp
            t[2 * 8 + r] = L(4);   // DA: arithmetic m32int
            t[4 * 8 + r] = L(8);   // DC: arithmetic m64fp
            t[6 * 8 + r] = L(2);   // DE: arithmetic m16int
        }
        // D9
        t[8 + 0] = L(4); t[8 + 1] = default; t[8 + 2] = S(4); t[8 + 3] = S(4);
        t[8 + 4] = new(X87Op.Fldenv, 0); t[8 + 5] = new(X87Op.Fldcw, 2); t[8 + 6] = new(X87Op.Fnstenv, 0); t[8 + 7] = new(X87Op.Fnstcw, 2);
        // DB
        t[24 + 0] = L(4); t[24 + 1] = S(4); t[24 + 2] = S(4); t[24 + 3] = S(4);
        t[24 + 4] = default; t[24 + 5] = L(10); t[24 + 6] = default; t[24 + 7] = S(10);
        // DD
        t[40 + 0] = L(8); t[40 + 1] = S(8); t[40 + 2] = S(8); t[40 + 3] = S(8);
        t[40 + 4] = new(X87Op.Frstor, 0); t[40 + 5] = default; t[40 + 6] = new(X87Op.Fnsave, 0); t[40 + 7] = new(X87Op.FnstswMem, 2);
        // DF
        t[56 + 0] = L(2); t[56 + 1] = S(2); t[56 + 2] = S(2); t[56 + 3] = S(2);
        t[56 + 4] = L(10); t[56 + 5] = L(8); t[56 + 6] = S(10); t[56 + 7] = S(8);
        return t;
    }

    static X87Form[] BuildReg()
    {
        var t = new X87Form[512];
        var host = new X87Form(X87Op.Host, 0);
        for (int i = 0; i < 512; i++) t[i] = host;
        void Ud(int op, int lo, int hi) { for (int m = lo; m <= hi; m++) t[(op - 0xD8) * 64 + (m - 0xC0)] = default; }
        void Set(int op, int m, X87Op x) => t[(op - 0xD8) * 64 + (m - 0xC0)] = new(x, 0);
        Ud(0xD9, 0xD1, 0xD7); Ud(0xD9, 0xE2, 0xE3); Ud(0xD9, 0xE6, 0xE7); Ud(0xD9, 0xEF, 0xEF);
        Ud(0xDA, 0xE0, 0xE8); Ud(0xDA, 0xEA, 0xFF);
        Ud(0xDB, 0xE5, 0xE7); Ud(0xDB, 0xF8, 0xFF);
        Set(0xDB, 0xE0, X87Op.FnNop); Set(0xDB, 0xE1, X87Op.FnNop); Set(0xDB, 0xE4, X87Op.FnNop);
        Set(0xDB, 0xE2, X87Op.Fnclex); Set(0xDB, 0xE3, X87Op.Fninit);
        Ud(0xDD, 0xF0, 0xFF);
        Ud(0xDE, 0xD8, 0xD8); Ud(0xDE, 0xDA, 0xDF);
        Ud(0xDF, 0xE1, 0xE7); Ud(0xDF, 0xF8, 0xFF);
        Set(0xDF, 0xE0, X87Op.FnstswAx);
        return t;
    }
}
