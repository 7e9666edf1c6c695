using System.Runtime.Versioning;
using System.Runtime.InteropServices;
using SharpBox.Runtime.Linux;

namespace SharpBox.Vmm.Hm;

/// <summary>
/// Getting a vCPU thread out of KVM_RUN from another thread. KVM returns -EINTR from KVM_RUN when a
/// signal is pending for the thread, so a kick is a real-time signal sent with tgkill to the vCPU's
/// thread. The signal needs a handler (an ignored signal is never pending); the handler is a single
/// native RET instruction in a page of our own (no managed code may run in a signal handler), and
/// SA_RESTART keeps other system calls of that thread from failing with EINTR.
/// </summary>
[SupportedOSPlatform("linux")]
internal static unsafe class KvmKick
{
    private static readonly object s_lock = new();
    private static int s_signal;
    private static int s_pid;
    private static string? s_error;

    /// <summary>The signal number used for kicks; installs the handler on first use. 0 if installing failed (see <see cref="Error"/>).</summary>
    public static int Signal
    {
        get
        {
            if (Volatile.Read(ref s_signal) != 0 || s_error != null) return s_signal;
            lock (s_lock)
            {
                if (s_signal == 0 && s_error == null) Install();
                return s_signal;
            }
        }
    }

    public static string? Error => s_error;
    public static int Pid => s_pid;

    private static void Install()
    {
        s_pid = KvmNative.GetPid();
        nint page = KvmNative.Mmap(0, 4096, KvmNative.PROT_READ | KvmNative.PROT_WRITE, KvmNative.MAP_PRIVATE | KvmNative.MAP_ANONYMOUS, -1, 0);
        if (page == KvmNative.MapFailed) { s_error = $"mmap: {KvmNative.ErrnoText(Marshal.GetLastPInvokeError())}"; return; }
        *(byte*)page = 0xC3;   // RET
        if (KvmNative.Mprotect(page, 4096, KvmNative.PROT_READ | KvmNative.PROT_EXEC) != 0)
        {
            s_error = $"mprotect: {KvmNative.ErrnoText(Marshal.GetLastPInvokeError())}";
            return;
        }
        // The runtime claims SIGRTMIN (thread activation); pick the first free signal above it.
        int lo = KvmNative.SigRtMin(), hi = KvmNative.SigRtMax();
        for (int sig = hi - 2; sig > lo + 2; sig--)
        {
            KvmNative.SigActionStruct old;
            if (KvmNative.SigAction(sig, null, &old) != 0) continue;
            if (old.Handler != 0) continue;   // SIG_DFL is 0: someone else owns signals that have a handler
            var act = new KvmNative.SigActionStruct { Handler = page, Flags = KvmNative.SA_RESTART };
            if (KvmNative.SigAction(sig, &act, null) != 0) continue;
            Volatile.Write(ref s_signal, sig);
            return;
        }
        s_error = "no free real-time signal for vCPU kicks";
    }

    /// <summary>Sends the kick signal to thread <paramref name="tid"/> of this process.</summary>
    public static void Send(int tid)
    {
        int sig = Signal;
        if (sig != 0 && tid > 0) KvmNative.TgKill(s_pid, tid, sig);
    }
}
