using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Iem;

/// <summary>Per guest-physical page: which 64-byte chunks hold decoded code, and a generation bumped when that code is overwritten.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CodePageInfo
{
    public ulong CodeBits;
    public int Generation;
    private int _pad;
}

/// <summary>
/// What the vCPUs of one VM share: the platform bus, the CPU model, the handler table and the
/// code-page tracking that makes self- and cross-modifying code work with per-vCPU block caches.
/// </summary>
public sealed unsafe class IemMachine
{
    public ICpuBus Bus { get; }
    public CpuModel Model { get; }
    public HandlerTable Table { get; }
    /// <summary>After RESET, application processors start with <c>Halted</c> set (for a caller that runs its own wait-for-SIPI logic).</summary>
    public bool ApsStartHalted { get; init; }
    /// <summary>
    /// After RESET, application processors wait for a startup IPI inside IEM (<see cref="IemCpu.Sipi"/>;
    /// Run returns Halted until then). Off by default: EM may keep that state itself.
    /// </summary>
    public bool ApsWaitForSipi { get; init; }

    // Two-level table of pinned chunks (pinned so TLB entries may hold raw pointers to them).
    private const int ChunkShift = 12;                        // 4096 pages (16 MiB) per chunk
    private readonly CodePageInfo[]?[] _chunks;
    private readonly object _chunkLock = new();
    /// <summary>Serialises locked accesses that cannot be done with one host atomic (page-crossing, MMIO).</summary>
    internal readonly object SplitLock = new();
    private readonly List<IemCpu> _cpus = new();

    public IemMachine(ICpuBus bus, CpuModel model, HandlerTable? table = null)
    {
        Bus = bus; Model = model; Table = table ?? HandlerTable.Default;
        _chunks = new CodePageInfo[]?[(int)(1UL << (model.PhysAddrBits - 12 - ChunkShift))];
    }

    /// <summary>The tracking record of a page, allocated on first use (returns null if the address is outside the physical address width).</summary>
    internal CodePageInfo* PageInfo(ulong pa)
    {
        ulong pfn = pa >> 12;
        ulong ci = pfn >> ChunkShift;
        if (ci >= (ulong)_chunks.Length) return null;
        var chunk = _chunks[ci];
        if (chunk == null)
        {
            lock (_chunkLock)
            {
                chunk = _chunks[ci];
                if (chunk == null)
                {
                    chunk = GC.AllocateArray<CodePageInfo>(1 << ChunkShift, pinned: true);
                    Volatile.Write(ref _chunks[ci], chunk);
                }
            }
        }
        return (CodePageInfo*)Unsafe.AsPointer(ref chunk[(int)(pfn & ((1 << ChunkShift) - 1))]);
    }

    /// <summary>The tracking record if it exists (no allocation).</summary>
    internal CodePageInfo* PageInfoIfAny(ulong pa)
    {
        ulong pfn = pa >> 12;
        ulong ci = pfn >> ChunkShift;
        if (ci >= (ulong)_chunks.Length) return null;
        var chunk = Volatile.Read(ref _chunks[ci]);
        if (chunk == null) return null;
        return (CodePageInfo*)Unsafe.AsPointer(ref chunk[(int)(pfn & ((1 << ChunkShift) - 1))]);
    }

    /// <summary>Marks bytes [pa, pa+len) (within one page) as holding decoded code.</summary>
    internal void MarkCode(CodePageInfo* info, ulong pa, int len)
    {
        int first = (int)(pa & 0xFFF) >> 6, last = (int)((pa & 0xFFF) + (ulong)len - 1) >> 6;
        ulong bits = (last == 63 ? ulong.MaxValue : (1UL << (last + 1)) - 1) & ~((1UL << first) - 1);
        ulong old = info->CodeBits;
        if ((old & bits) == bits) return;
        Interlocked.Or(ref info->CodeBits, bits);
        if (old == 0)
        {
            // The page just became a code page: no vCPU may keep a direct write mapping of it.
            lock (_cpus)
                foreach (var c in _cpus) c.RequestWriteTlbFlush();
        }
    }

    /// <summary>
    /// Guest-physical memory was written behind the CPUs' backs (device DMA, the platform loading an
    /// image): decoded code in that range is dropped. Cheap when the range holds no code.
    /// </summary>
    public void NotifyPhysicalWrite(ulong gpa, ulong length)
    {
        if (length == 0) return;
        ulong end = gpa + length;
        for (ulong p = gpa; p < end; p = (p & ~0xFFFUL) + 0x1000)
        {
            CodePageInfo* info = PageInfoIfAny(p);
            if (info == null || Volatile.Read(ref info->CodeBits) == 0) continue;
            ulong pageEnd = (p & ~0xFFFUL) + 0x1000;
            int n = (int)(Math.Min(end, pageEnd) - p);
            CodeWritten(info, p, n);
        }
    }

    internal void Register(IemCpu cpu) { lock (_cpus) _cpus.Add(cpu); }
    internal void Unregister(IemCpu cpu) { lock (_cpus) _cpus.Remove(cpu); }

    /// <summary>The vCPUs created on this machine, in creation order.</summary>
    public IemCpu[] Cpus { get { lock (_cpus) return _cpus.ToArray(); } }

    /// <summary>
    /// A write hit a page holding code: if it overlaps decoded bytes, every block of the page becomes
    /// stale (generation bump) and the page stops being a code page. Returns true if code was hit.
    /// </summary>
    internal bool CodeWritten(CodePageInfo* info, ulong pa, int len)
    {
        ulong bits = info->CodeBits;
        if (bits == 0) return false;
        int first = (int)(pa & 0xFFF) >> 6, last = (int)(((pa & 0xFFF) + (ulong)len - 1) & 0xFFF) >> 6;
        ulong mask = last >= first ? ((last == 63 ? ulong.MaxValue : (1UL << (last + 1)) - 1) & ~((1UL << first) - 1)) : ulong.MaxValue;
        if ((bits & mask) == 0) return false;
        Interlocked.Exchange(ref info->CodeBits, 0);
        Interlocked.Increment(ref info->Generation);
        return true;
    }
}
