using System.Runtime.Versioning;
using System.Runtime.InteropServices;
using SharpBox.Runtime.Linux;

namespace SharpBox.Vmm.Hm;

/// <summary>One guest-physical range backed by host memory, as registered with KVM.</summary>
public readonly record struct KvmMemorySlot(uint Slot, ulong GuestPhys, ulong Size, nint Host, bool ReadOnly);

/// <summary>
/// A KVM virtual machine: memory slots over host mappings, the optional in-kernel interrupt
/// controllers (PIC + IOAPIC + LAPICs) and PIT, interrupt lines, irqfd/ioeventfd, the kvmclock
/// base and the vCPUs. Slot and fd bookkeeping is locked; the vCPU hot path never touches it.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed unsafe class KvmVm : IDisposable
{
    private int _fd;
    private readonly object _lock = new();
    private readonly List<KvmMemorySlot> _slots = new();
    private readonly List<KvmVcpu> _vcpus = new();
    private readonly Dictionary<uint, int> _irqfds = new();
    private readonly List<(ulong Addr, uint Len, bool Pio, ulong? Match, int Fd)> _ioeventfds = new();

    public KvmSystem System { get; }
    /// <summary>KVM_CREATE_IRQCHIP succeeded: PIC, IOAPIC and per-vCPU LAPICs live in the kernel.</summary>
    public bool HasIrqchip { get; private set; }
    public bool HasPit { get; private set; }

    internal KvmVm(KvmSystem system, int fd) { System = system; _fd = fd; }

    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmVm));

    public IReadOnlyList<KvmMemorySlot> Slots { get { lock (_lock) return _slots.ToArray(); } }

    /// <summary>
    /// Registers (or replaces, for the same slot number) guest-physical memory backed by
    /// <paramref name="host"/>. Both addresses and the size must be page aligned. A read-only slot
    /// makes guest writes exit as MMIO writes.
    /// </summary>
    public void SetMemory(uint slot, ulong guestPhys, ulong size, nint host, bool readOnly = false)
    {
        if ((guestPhys | size | (ulong)host) % 4096 != 0)
            throw new ArgumentException($"KVM: memory slot {slot} at {guestPhys:X} size {size:X} host {host:X} is not page aligned");
        var region = new KvmUserspaceMemoryRegion
        {
            Slot = slot, Flags = readOnly ? KvmConst.MemReadonly : 0,
            GuestPhysAddr = guestPhys, MemorySize = size, UserspaceAddr = (ulong)host,
        };
        lock (_lock)
        {
            if (KvmNative.Ioctl(Fd, KvmIoctl.SetUserMemoryRegion, (nint)(&region)) != 0)
                throw new KvmException($"KVM_SET_USER_MEMORY_REGION (slot {slot}, {guestPhys:X}+{size:X})", Marshal.GetLastPInvokeError());
            _slots.RemoveAll(s => s.Slot == slot);
            if (size != 0) _slots.Add(new KvmMemorySlot(slot, guestPhys, size, host, readOnly));
        }
    }

    /// <summary>Removes a slot (a size-0 region for the same slot number).</summary>
    public void RemoveMemory(uint slot) => SetMemory(slot, 0, 0, 0);

    /// <summary>Removes every slot (the memory map changed wholesale).</summary>
    public void RemoveAllMemory()
    {
        foreach (var s in Slots) RemoveMemory(s.Slot);
    }

    /// <summary>Intel VMX needs three pages for the real-mode TSS below 4 GiB that no guest memory uses.</summary>
    public void SetTssAddress(uint address)
    {
        if (KvmNative.Ioctl(Fd, KvmIoctl.SetTssAddr, (nint)address) != 0)
            throw new KvmException("KVM_SET_TSS_ADDR", Marshal.GetLastPInvokeError());
    }

    public void SetIdentityMapAddress(ulong address)
    {
        if (KvmNative.Ioctl(Fd, KvmIoctl.SetIdentityMapAddr, (nint)(&address)) != 0)
            throw new KvmException("KVM_SET_IDENTITY_MAP_ADDR", Marshal.GetLastPInvokeError());
    }

    /// <summary>Creates the in-kernel PIC pair, IOAPIC and LAPICs (before any vCPU). False when the host refuses.</summary>
    public bool TryCreateIrqchip(out string? error)
    {
        error = null;
        lock (_lock)
        {
            if (_vcpus.Count != 0) throw new InvalidOperationException("KVM: the in-kernel irqchip must be created before the vCPUs");
            if (KvmNative.Ioctl(Fd, KvmIoctl.CreateIrqchip, 0) != 0)
            {
                error = $"KVM_CREATE_IRQCHIP: {KvmNative.ErrnoText(Marshal.GetLastPInvokeError())}";
                return false;
            }
            HasIrqchip = true;
            return true;
        }
    }

    /// <summary>Creates the in-kernel i8254 (needs the irqchip). False when the host refuses.</summary>
    public bool TryCreatePit(out string? error)
    {
        error = null;
        var cfg = new KvmPitConfig { Flags = KvmConst.PitSpeakerDummy };
        if (KvmNative.Ioctl(Fd, KvmIoctl.CreatePit2, (nint)(&cfg)) != 0)
        {
            error = $"KVM_CREATE_PIT2: {KvmNative.ErrnoText(Marshal.GetLastPInvokeError())}";
            return false;
        }
        HasPit = true;
        return true;
    }

    /// <summary>Drives an interrupt line (GSI) of the in-kernel irqchip. Returns false if the interrupt was coalesced/masked.</summary>
    public bool SetIrqLine(uint gsi, bool level)
    {
        var l = new KvmIrqLevel { Irq = gsi, Level = level ? 1u : 0u };
        if (KvmNative.Ioctl(Fd, KvmIoctl.IrqLineStatus, (nint)(&l)) != 0)
            throw new KvmException($"KVM_IRQ_LINE_STATUS (GSI {gsi})", Marshal.GetLastPInvokeError());
        return (int)l.Irq > 0;
    }

    /// <summary>
    /// Binds a new eventfd to GSI <paramref name="gsi"/>: every write of a non-zero count to it
    /// pulses the line in the kernel, with no exit and no user-space interrupt controller. Returns the fd.
    /// </summary>
    public int AddIrqfd(uint gsi)
    {
        int efd = KvmNative.EventFd(0, KvmNative.EFD_CLOEXEC | KvmNative.EFD_NONBLOCK);
        if (efd < 0) throw new KvmException("eventfd", Marshal.GetLastPInvokeError());
        var req = new KvmIrqfd { Fd = (uint)efd, Gsi = gsi };
        if (KvmNative.Ioctl(Fd, KvmIoctl.Irqfd, (nint)(&req)) != 0)
        {
            int e = Marshal.GetLastPInvokeError();
            KvmNative.Close(efd);
            throw new KvmException($"KVM_IRQFD (GSI {gsi})", e);
        }
        lock (_lock) _irqfds[gsi] = efd;
        return efd;
    }

    public void RemoveIrqfd(uint gsi)
    {
        int efd;
        lock (_lock) { if (!_irqfds.Remove(gsi, out efd)) return; }
        var req = new KvmIrqfd { Fd = (uint)efd, Gsi = gsi, Flags = KvmConst.IrqfdDeassign };
        KvmNative.Ioctl(Fd, KvmIoctl.Irqfd, (nint)(&req));
        KvmNative.Close(efd);
    }

    /// <summary>
    /// Makes guest writes of <paramref name="length"/> bytes to a port (<paramref name="pio"/>) or MMIO
    /// address signal a new eventfd instead of exiting (optionally only when the value matches).
    /// The caller waits on the returned fd (e.g. in the I/O thread's epoll).
    /// </summary>
    public int AddIoeventfd(ulong address, uint length, bool pio, ulong? datamatch = null)
    {
        int efd = KvmNative.EventFd(0, KvmNative.EFD_CLOEXEC | KvmNative.EFD_NONBLOCK);
        if (efd < 0) throw new KvmException("eventfd", Marshal.GetLastPInvokeError());
        var req = new KvmIoeventfd
        {
            Addr = address, Len = length, Fd = efd, Datamatch = datamatch ?? 0,
            Flags = (pio ? KvmConst.IoeventfdPio : 0) | (datamatch.HasValue ? KvmConst.IoeventfdDatamatch : 0),
        };
        if (KvmNative.Ioctl(Fd, KvmIoctl.Ioeventfd, (nint)(&req)) != 0)
        {
            int e = Marshal.GetLastPInvokeError();
            KvmNative.Close(efd);
            throw new KvmException($"KVM_IOEVENTFD ({(pio ? "port" : "MMIO")} {address:X}, {length} bytes)", e);
        }
        lock (_lock) _ioeventfds.Add((address, length, pio, datamatch, efd));
        return efd;
    }

    public void RemoveIoeventfd(int efd)
    {
        (ulong Addr, uint Len, bool Pio, ulong? Match, int Fd) entry;
        lock (_lock)
        {
            int i = _ioeventfds.FindIndex(x => x.Fd == efd);
            if (i < 0) return;
            entry = _ioeventfds[i];
            _ioeventfds.RemoveAt(i);
        }
        var req = new KvmIoeventfd
        {
            Addr = entry.Addr, Len = entry.Len, Fd = efd, Datamatch = entry.Match ?? 0,
            Flags = KvmConst.IoeventfdDeassign | (entry.Pio ? KvmConst.IoeventfdPio : 0) | (entry.Match.HasValue ? KvmConst.IoeventfdDatamatch : 0),
        };
        KvmNative.Ioctl(Fd, KvmIoctl.Ioeventfd, (nint)(&req));
        KvmNative.Close(efd);
    }

    /// <summary>KVM_GET_CLOCK: the kvmclock base (ns) the kernel presents to guests.</summary>
    public ulong GetClock()
    {
        KvmClockData d;
        if (KvmNative.Ioctl(Fd, KvmIoctl.GetClock, (nint)(&d)) != 0) throw new KvmException("KVM_GET_CLOCK", Marshal.GetLastPInvokeError());
        return d.Clock;
    }

    public void SetClock(ulong ns)
    {
        var d = new KvmClockData { Clock = ns };
        if (KvmNative.Ioctl(Fd, KvmIoctl.SetClock, (nint)(&d)) != 0) throw new KvmException("KVM_SET_CLOCK", Marshal.GetLastPInvokeError());
    }

    /// <summary>KVM_ENABLE_CAP on the VM.</summary>
    public bool TryEnableCap(int cap, ulong arg0 = 0)
    {
        var c = new KvmEnableCap { Cap = (uint)cap };
        c.Args[0] = arg0;
        return KvmNative.Ioctl(Fd, KvmIoctl.EnableCap, (nint)(&c)) == 0;
    }

    /// <summary>
    /// Sends guest RDMSR/WRMSR of the given MSR ranges to user space (KVM_EXIT_X86_RDMSR/WRMSR) instead
    /// of the kernel: how paravirt MSRs that the kernel does not implement reach GIM. Every other MSR
    /// stays with the kernel. Needs KVM_CAP_X86_USER_SPACE_MSR and KVM_CAP_X86_MSR_FILTER.
    /// </summary>
    public bool TryRouteMsrsToUserSpace(ReadOnlySpan<(uint First, uint Count)> ranges, out string? error)
    {
        error = null;
        if (ranges.Length > 16) throw new ArgumentException("KVM: at most 16 MSR filter ranges");
        if (System.CheckExtension(KvmIoctl.CapX86UserSpaceMsr) == 0 || System.CheckExtension(KvmIoctl.CapX86MsrFilter) == 0)
        {
            error = "the host KVM cannot send MSR accesses to user space";
            return false;
        }
        if (!TryEnableCap(KvmIoctl.CapX86UserSpaceMsr, KvmConst.MsrExitReasonFilter))
        {
            error = $"KVM_ENABLE_CAP(X86_USER_SPACE_MSR): {KvmNative.ErrnoText(Marshal.GetLastPInvokeError())}";
            return false;
        }
        // An all-zero bitmap denies the range to the kernel; denied accesses exit with reason FILTER.
        int totalBytes = 0;
        foreach (var r in ranges) totalBytes += (int)((r.Count + 7) / 8);
        byte* bitmaps = (byte*)NativeMemory.AllocZeroed((nuint)Math.Max(totalBytes, 1));
        try
        {
            var f = new KvmMsrFilter { Flags = KvmConst.MsrFilterDefaultAllow };
            int off = 0;
            for (int i = 0; i < ranges.Length; i++)
            {
                f.Ranges[i] = new KvmMsrFilterRange
                {
                    Flags = KvmConst.MsrFilterRead | KvmConst.MsrFilterWrite, Base = ranges[i].First,
                    Nmsrs = ranges[i].Count, BitmapPtr = (ulong)(bitmaps + off),
                };
                off += (int)((ranges[i].Count + 7) / 8);
            }
            if (KvmNative.Ioctl(Fd, KvmIoctl.SetMsrFilter, (nint)(&f)) != 0)
            {
                error = $"KVM_X86_SET_MSR_FILTER: {KvmNative.ErrnoText(Marshal.GetLastPInvokeError())}";
                return false;
            }
            return true;   // the kernel copied the bitmaps
        }
        finally { NativeMemory.Free(bitmaps); }
    }

    /// <summary>Creates vCPU <paramref name="id"/> (its APIC id) and maps its kvm_run page.</summary>
    public KvmVcpu CreateVcpu(int id)
    {
        int fd = KvmNative.Ioctl(Fd, KvmIoctl.CreateVcpu, id);
        if (fd < 0) throw new KvmException($"KVM_CREATE_VCPU({id})", Marshal.GetLastPInvokeError());
        nint run = KvmNative.Mmap(0, (nuint)System.VcpuMmapSize, KvmNative.PROT_READ | KvmNative.PROT_WRITE, KvmNative.MAP_SHARED, fd, 0);
        if (run == KvmNative.MapFailed)
        {
            int e = Marshal.GetLastPInvokeError();
            KvmNative.Close(fd);
            throw new KvmException($"mmap of vCPU {id}'s kvm_run", e);
        }
        var v = new KvmVcpu(this, id, fd, (byte*)run, System.VcpuMmapSize);
        lock (_lock) _vcpus.Add(v);
        return v;
    }

    internal void Forget(KvmVcpu v) { lock (_lock) _vcpus.Remove(v); }

    public void Dispose()
    {
        KvmVcpu[] cpus;
        lock (_lock) cpus = _vcpus.ToArray();
        foreach (var c in cpus) c.Dispose();
        lock (_lock)
        {
            foreach (var efd in _irqfds.Values) KvmNative.Close(efd);
            _irqfds.Clear();
            foreach (var e in _ioeventfds) KvmNative.Close(e.Fd);
            _ioeventfds.Clear();
        }
        if (_fd >= 0) { KvmNative.Close(_fd); _fd = -1; }
    }
}
