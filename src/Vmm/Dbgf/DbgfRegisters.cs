using System.Globalization;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Dbgf;

/// <summary>
/// Registers by name, as VBoxManage debugvm getregisters/setregisters use them: DBGF's lower-case
/// names (rax, eax, ax, al, rip, rflags, cs, cs_base, cs_lim, cs_attr, gdtr_base, cr0, dr7, efer,
/// lstar, ...) over <see cref="CpuContext"/>. Values are hexadecimal with a 0x prefix, zero-padded to
/// the register's width.
/// </summary>
public static class DbgfRegisters
{
    private delegate ulong Getter(in CpuContext c);
    private delegate void Setter(ref CpuContext c, ulong v);

    /// <param name="Listed">Shown by "all" (aliases such as eax or ah are not).</param>
    private sealed record Reg(string Name, int Bits, Getter Get, Setter Set, bool Listed);

    private static readonly Reg[] s_regs = Build();
    private static readonly Dictionary<string, Reg> s_byName = s_regs.ToDictionary(r => r.Name, StringComparer.OrdinalIgnoreCase);

    private static Reg[] Build()
    {
        var r = new List<Reg>();
        string[] q = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi" };
        string[] d = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };
        string[] w = { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di" };
        string[] b = { "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil" };
        for (int i = 0; i < 16; i++)
        {
            int n = i;
            r.Add(new Reg(i < 8 ? q[i] : $"r{i}", 64, (in CpuContext c) => c.Gpr[n], (ref CpuContext c, ulong v) => c.Gpr[n] = v, true));
        }
        for (int i = 0; i < 16; i++)
        {
            int n = i;
            // Writing a 32-bit register zero-extends, as the CPU does; 16- and 8-bit ones merge.
            r.Add(new Reg(i < 8 ? d[i] : $"r{i}d", 32, (in CpuContext c) => (uint)c.Gpr[n], (ref CpuContext c, ulong v) => c.Gpr[n] = (uint)v, false));
            r.Add(new Reg(i < 8 ? w[i] : $"r{i}w", 16, (in CpuContext c) => (ushort)c.Gpr[n], (ref CpuContext c, ulong v) => c.Gpr[n] = (c.Gpr[n] & ~0xFFFFUL) | (ushort)v, false));
            r.Add(new Reg(i < 8 ? b[i] : $"r{i}l", 8, (in CpuContext c) => (byte)c.Gpr[n], (ref CpuContext c, ulong v) => c.Gpr[n] = (c.Gpr[n] & ~0xFFUL) | (byte)v, false));
        }
        string[] h = { "ah", "ch", "dh", "bh" };
        for (int i = 0; i < 4; i++)
        {
            int n = i;
            r.Add(new Reg(h[i], 8, (in CpuContext c) => (byte)(c.Gpr[n] >> 8), (ref CpuContext c, ulong v) => c.Gpr[n] = (c.Gpr[n] & ~0xFF00UL) | ((v & 0xFF) << 8), false));
        }
        r.Add(new Reg("rip", 64, (in CpuContext c) => c.Rip, (ref CpuContext c, ulong v) => c.Rip = v, true));
        r.Add(new Reg("eip", 32, (in CpuContext c) => (uint)c.Rip, (ref CpuContext c, ulong v) => c.Rip = (uint)v, false));
        r.Add(new Reg("rflags", 64, (in CpuContext c) => c.Rflags, (ref CpuContext c, ulong v) => c.Rflags = (v & RFlags.Writable) | RFlags.Fixed1, true));
        r.Add(new Reg("eflags", 32, (in CpuContext c) => (uint)c.Rflags, (ref CpuContext c, ulong v) => c.Rflags = (v & RFlags.Writable) | RFlags.Fixed1, false));
        string[] segs = { "es", "cs", "ss", "ds", "fs", "gs" };
        for (int i = 0; i < 6; i++)
        {
            int n = i;
            string s = segs[i];
            r.Add(new Reg(s, 16, (in CpuContext c) => c.Seg[n].Selector, (ref CpuContext c, ulong v) => c.Seg[n].Selector = (ushort)v, true));
            r.Add(new Reg(s + "_attr", 32, (in CpuContext c) => c.Seg[n].Attributes, (ref CpuContext c, ulong v) => c.Seg[n].Attributes = (uint)v, true));
            r.Add(new Reg(s + "_base", 64, (in CpuContext c) => c.Seg[n].Base, (ref CpuContext c, ulong v) => c.Seg[n].Base = v, true));
            r.Add(new Reg(s + "_lim", 32, (in CpuContext c) => c.Seg[n].Limit, (ref CpuContext c, ulong v) => c.Seg[n].Limit = (uint)v, true));
        }
        AddSystemSegment(r, "ldtr", (in CpuContext c) => c.Ldtr, (ref CpuContext c) => ref c.Ldtr);
        AddSystemSegment(r, "tr", (in CpuContext c) => c.Tr, (ref CpuContext c) => ref c.Tr);
        r.Add(new Reg("gdtr_base", 64, (in CpuContext c) => c.Gdtr.Base, (ref CpuContext c, ulong v) => c.Gdtr.Base = v, true));
        r.Add(new Reg("gdtr_lim", 16, (in CpuContext c) => c.Gdtr.Limit, (ref CpuContext c, ulong v) => c.Gdtr.Limit = (ushort)v, true));
        r.Add(new Reg("idtr_base", 64, (in CpuContext c) => c.Idtr.Base, (ref CpuContext c, ulong v) => c.Idtr.Base = v, true));
        r.Add(new Reg("idtr_lim", 16, (in CpuContext c) => c.Idtr.Limit, (ref CpuContext c, ulong v) => c.Idtr.Limit = (ushort)v, true));
        r.Add(new Reg("cr0", 64, (in CpuContext c) => c.Cr0, (ref CpuContext c, ulong v) => c.Cr0 = v, true));
        r.Add(new Reg("cr2", 64, (in CpuContext c) => c.Cr2, (ref CpuContext c, ulong v) => c.Cr2 = v, true));
        r.Add(new Reg("cr3", 64, (in CpuContext c) => c.Cr3, (ref CpuContext c, ulong v) => c.Cr3 = v, true));
        r.Add(new Reg("cr4", 64, (in CpuContext c) => c.Cr4, (ref CpuContext c, ulong v) => c.Cr4 = v, true));
        r.Add(new Reg("cr8", 64, (in CpuContext c) => c.Cr8, (ref CpuContext c, ulong v) => c.Cr8 = v & 0xF, true));
        foreach (int i in new[] { 0, 1, 2, 3, 6, 7 })
        {
            int n = i;
            r.Add(new Reg($"dr{i}", 64, (in CpuContext c) => c.Dr[n], (ref CpuContext c, ulong v) => c.Dr[n] = v, true));
        }
        r.Add(new Reg("efer", 64, (in CpuContext c) => c.Efer, (ref CpuContext c, ulong v) => c.Efer = v, true));
        r.Add(new Reg("xcr0", 64, (in CpuContext c) => c.Xcr0, (ref CpuContext c, ulong v) => c.Xcr0 = v, true));
        r.Add(new Reg("sysenter_cs", 64, (in CpuContext c) => c.SysenterCs, (ref CpuContext c, ulong v) => c.SysenterCs = v, true));
        r.Add(new Reg("sysenter_eip", 64, (in CpuContext c) => c.SysenterEip, (ref CpuContext c, ulong v) => c.SysenterEip = v, true));
        r.Add(new Reg("sysenter_esp", 64, (in CpuContext c) => c.SysenterEsp, (ref CpuContext c, ulong v) => c.SysenterEsp = v, true));
        r.Add(new Reg("star", 64, (in CpuContext c) => c.Star, (ref CpuContext c, ulong v) => c.Star = v, true));
        r.Add(new Reg("lstar", 64, (in CpuContext c) => c.Lstar, (ref CpuContext c, ulong v) => c.Lstar = v, true));
        r.Add(new Reg("cstar", 64, (in CpuContext c) => c.Cstar, (ref CpuContext c, ulong v) => c.Cstar = v, true));
        r.Add(new Reg("sf_mask", 64, (in CpuContext c) => c.Sfmask, (ref CpuContext c, ulong v) => c.Sfmask = v, true));
        r.Add(new Reg("krnl_gs_base", 64, (in CpuContext c) => c.KernelGsBase, (ref CpuContext c, ulong v) => c.KernelGsBase = v, true));
        r.Add(new Reg("pat", 64, (in CpuContext c) => c.Pat, (ref CpuContext c, ulong v) => c.Pat = v, true));
        r.Add(new Reg("apic_base", 64, (in CpuContext c) => c.ApicBase, (ref CpuContext c, ulong v) => c.ApicBase = v, true));
        r.Add(new Reg("tsc_aux", 64, (in CpuContext c) => c.TscAux, (ref CpuContext c, ulong v) => c.TscAux = v, true));
        return r.ToArray();
    }

    private delegate SegmentRegister SegGet(in CpuContext c);
    private delegate ref SegmentRegister SegRef(ref CpuContext c);

    private static void AddSystemSegment(List<Reg> r, string name, SegGet get, SegRef set)
    {
        r.Add(new Reg(name, 16, (in CpuContext c) => get(in c).Selector, (ref CpuContext c, ulong v) => set(ref c).Selector = (ushort)v, true));
        r.Add(new Reg(name + "_attr", 32, (in CpuContext c) => get(in c).Attributes, (ref CpuContext c, ulong v) => set(ref c).Attributes = (uint)v, true));
        r.Add(new Reg(name + "_base", 64, (in CpuContext c) => get(in c).Base, (ref CpuContext c, ulong v) => set(ref c).Base = v, true));
        r.Add(new Reg(name + "_lim", 32, (in CpuContext c) => get(in c).Limit, (ref CpuContext c, ulong v) => set(ref c).Limit = (uint)v, true));
    }

    /// <summary>The registers "all" lists, in order.</summary>
    public static IEnumerable<string> ListedNames => s_regs.Where(r => r.Listed).Select(r => r.Name);

    public static bool Exists(string name) => s_byName.ContainsKey(Unqualified(name));

    /// <summary>DBGF names may carry the register set ("cpum.rax"); the CPU's is the only one here.</summary>
    private static string Unqualified(string name)
        => name.StartsWith("cpum.", StringComparison.OrdinalIgnoreCase) ? name[5..] : name;

    /// <summary>The value of a register as DBGF prints it (0x and the register's width in hex digits).</summary>
    public static string Format(in CpuContext c, string name)
    {
        var r = Find(name);
        return "0x" + r.Get(in c).ToString("x" + (r.Bits / 4).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    /// <summary>Sets a register from text (0x-prefixed hex or decimal); the value must fit the register.</summary>
    public static void Set(ref CpuContext c, string name, string value)
    {
        var r = Find(name);
        string v = value.Trim();
        bool ok = v.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(v.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong x)
            : ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out x);
        if (!ok) throw new ArgumentException($"'{value}' is not a number (0x-prefixed hexadecimal or decimal) for register {r.Name}");
        if (r.Bits < 64 && x >> r.Bits != 0) throw new ArgumentException($"{value} does not fit the {r.Bits}-bit register {r.Name}");
        r.Set(ref c, x);
    }

    private static Reg Find(string name)
        => s_byName.TryGetValue(Unqualified(name), out var r) ? r : throw new ArgumentException($"unknown register '{name}'");
}
