using System.Runtime.Versioning;
using System.Runtime.InteropServices;
using SharpBox.Runtime.Linux;

namespace SharpBox.Vmm.Hm;

/// <summary>A failed /dev/kvm call: names the operation and the errno.</summary>
[SupportedOSPlatform("linux")]
public sealed class KvmException : Exception
{
    public int Errno { get; }
    public KvmException(string what, int errno) : base($"KVM: {what} failed: {KvmNative.ErrnoText(errno)}") { Errno = errno; }
    public KvmException(string message) : base(message) { }
}

/// <summary>
/// An open /dev/kvm: the API version check, capability queries, the CPUID the host can virtualise,
/// and VM creation. One per process is enough; it is thread-safe.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed unsafe class KvmSystem : IDisposable
{
    public const string DefaultPath = "/dev/kvm";
    private int _fd;

    public string Path { get; }
    /// <summary>Size of the per-vCPU kvm_run mapping (the exit page plus the PIO data page and coalesced-MMIO ring).</summary>
    public int VcpuMmapSize { get; }

    private KvmSystem(string path, int fd, int mmapSize) { Path = path; _fd = fd; VcpuMmapSize = mmapSize; }

    /// <summary>Opens /dev/kvm and checks the API version. Throws <see cref="KvmException"/> saying what is wrong.</summary>
    public static KvmSystem Open(string path = DefaultPath)
    {
        if (!File.Exists(path)) throw new KvmException($"KVM: {path} does not exist (no KVM module or no access to it in this environment)");
        int fd = KvmNative.Open(path, KvmNative.O_RDWR | KvmNative.O_CLOEXEC);
        if (fd < 0)
        {
            int e = Marshal.GetLastPInvokeError();
            throw new KvmException(e == KvmNative.EACCES
                ? $"KVM: no permission to open {path} (add the user to the kvm group)"
                : $"KVM: cannot open {path}: {KvmNative.ErrnoText(e)}");
        }
        int api = KvmNative.Ioctl(fd, KvmIoctl.GetApiVersion, 0);
        if (api != KvmConst.ApiVersion)
        {
            KvmNative.Close(fd);
            throw new KvmException($"KVM: {path} speaks API version {api}, expected {KvmConst.ApiVersion}");
        }
        int size = KvmNative.Ioctl(fd, KvmIoctl.GetVcpuMmapSize, 0);
        if (size < 4096)
        {
            int e = Marshal.GetLastPInvokeError();
            KvmNative.Close(fd);
            throw new KvmException("KVM_GET_VCPU_MMAP_SIZE", e);
        }
        return new KvmSystem(path, fd, size);
    }

    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmSystem));

    /// <summary>KVM_CHECK_EXTENSION: 0 when the capability is absent, else its value (often 1, sometimes a count or bit mask).</summary>
    public int CheckExtension(int cap)
    {
        int r = KvmNative.Ioctl(Fd, KvmIoctl.CheckExtension, cap);
        return r < 0 ? 0 : r;
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID: every leaf the host can present to a guest, with the bits it can virtualise.</summary>
    public KvmCpuidEntry2[] GetSupportedCpuid()
    {
        for (int n = 128; n <= 4096; n *= 2)
        {
            int bytes = 8 + n * sizeof(KvmCpuidEntry2);
            byte* buf = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
            try
            {
                *(uint*)buf = (uint)n;
                if (KvmNative.Ioctl(Fd, KvmIoctl.GetSupportedCpuid, (nint)buf) == 0)
                {
                    int count = (int)*(uint*)buf;
                    var result = new KvmCpuidEntry2[count];
                    new ReadOnlySpan<KvmCpuidEntry2>(buf + 8, count).CopyTo(result);
                    return result;
                }
                int e = Marshal.GetLastPInvokeError();
                if (e != 7 /* E2BIG */) throw new KvmException("KVM_GET_SUPPORTED_CPUID", e);
            }
            finally { NativeMemory.Free(buf); }
        }
        throw new KvmException("KVM: KVM_GET_SUPPORTED_CPUID returned more than 4096 entries");
    }

    /// <summary>KVM_GET_MSR_INDEX_LIST: the MSRs whose state KVM saves and restores.</summary>
    public uint[] GetMsrIndexList()
    {
        for (int n = 256; n <= 16384; n *= 2)
        {
            uint* buf = (uint*)NativeMemory.AllocZeroed((nuint)(4 + 4 * n));
            try
            {
                buf[0] = (uint)n;
                if (KvmNative.Ioctl(Fd, KvmIoctl.GetMsrIndexList, (nint)buf) == 0)
                    return new ReadOnlySpan<uint>(buf + 1, (int)buf[0]).ToArray();
                int e = Marshal.GetLastPInvokeError();
                if (e != 7) throw new KvmException("KVM_GET_MSR_INDEX_LIST", e);
            }
            finally { NativeMemory.Free(buf); }
        }
        throw new KvmException("KVM: KVM_GET_MSR_INDEX_LIST returned too many entries");
    }

    /// <summary>Creates a VM (KVM_CREATE_VM, default machine type).</summary>
    public KvmVm CreateVm()
    {
        int fd = KvmNative.Ioctl(Fd, KvmIoctl.CreateVm, 0);
        if (fd < 0) throw new KvmException("KVM_CREATE_VM", Marshal.GetLastPInvokeError());
        return new KvmVm(this, fd);
    }

    public void Dispose()
    {
        if (_fd >= 0) { KvmNative.Close(_fd); _fd = -1; }
    }
}
