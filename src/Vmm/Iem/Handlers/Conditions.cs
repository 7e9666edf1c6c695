using System.Runtime.CompilerServices;

namespace SharpBox.Vmm.Iem;

/// <summary>A condition code (the low nibble of Jcc/SETcc/CMOVcc) as a type, so handlers specialise per condition.</summary>
public interface ICond
{
    static abstract bool Eval(IemCpu c);
}

public struct CondO : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.OF != 0; }
public struct CondNO : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.OF == 0; }
public struct CondB : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => (c.LfAux >> 31) != 0; }
public struct CondAE : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => (c.LfAux >> 31) == 0; }
public struct CondZ : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.LfRes == 0; }
public struct CondNZ : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.LfRes != 0; }
public struct CondBE : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => (c.LfAux >> 31) != 0 || c.LfRes == 0; }
public struct CondA : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => (c.LfAux >> 31) == 0 && c.LfRes != 0; }
public struct CondS : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.SF != 0; }
public struct CondNS : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.SF == 0; }
public struct CondP : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.PF != 0; }
public struct CondNP : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.PF == 0; }
public struct CondL : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.SF != c.OF; }
public struct CondGE : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.SF == c.OF; }
public struct CondLE : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.LfRes == 0 || c.SF != c.OF; }
public struct CondG : ICond { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Eval(IemCpu c) => c.LfRes != 0 && c.SF == c.OF; }
