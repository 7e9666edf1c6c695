using System.Globalization;
using SharpBox.Devices;
using SharpBox.Main.Api;

namespace SharpBox.Frontends.VBoxHeadless;

/// <summary>
/// Reads what the VM process needs from a machine's settings (through Main only) into the platform's
/// configuration: RAM, CPUs, firmware switches, serial ports with their --uart-mode, and the direct-boot
/// kernel, initrd and command line that VBoxManage stores as extra data.
/// </summary>
public static class MachineSettings
{
    /// <summary>Extra-data keys written by VBoxManage modifyvm --boot-kernel/--boot-initrd/--boot-cmdline.</summary>
    public const string BootKernelKey = "SharpBox/Boot/Kernel", BootInitrdKey = "SharpBox/Boot/Initrd", BootCmdlineKey = "SharpBox/Boot/Cmdline";
    /// <summary>Extra data enabling QEMU's debug-exit port at the given port (VBoxManage setextradata VM SharpBox/DebugExit 0xf4).</summary>
    public const string DebugExitKey = "SharpBox/DebugExit";

    public static PcMachineConfig Read(IMachine m)
    {
        if (m.CPUCount > 1 && !m.IOAPICEnabled)
            throw new InvalidOperationException($"{m.CPUCount} CPUs need the I/O APIC (VBoxManage modifyvm \"{m.Name}\" --ioapic on)");
        var uarts = new UartConfig?[4];
        for (uint i = 0; i < 4; i++)
        {
            var p = m.GetSerialPort(i);
            if (!p.Enabled) continue;
            uarts[i] = new UartConfig((ushort)p.IOBase, (int)p.IRQ, ModeOf(p, i + 1), LocationOf(p));
        }
        string kernel = m.GetExtraData(BootKernelKey);
        string initrd = m.GetExtraData(BootInitrdKey);
        string cmdline = m.GetExtraData(BootCmdlineKey);
        ushort? debugExit = null;
        string dbg = m.GetExtraData(DebugExitKey);
        if (dbg.Length > 0)
        {
            bool hex = dbg.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!ushort.TryParse(hex ? dbg[2..] : dbg, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
                throw new InvalidOperationException($"extra data {DebugExitKey} = '{dbg}' is not a port number");
            debugExit = port;
        }
        return new PcMachineConfig
        {
            DebugExitPort = debugExit,
            RamBytes = (ulong)m.MemorySize << 20,
            Cpus = (int)m.CPUCount,
            Kernel = kernel.Length == 0 ? null : kernel,
            Initrd = initrd.Length == 0 ? null : initrd,
            CmdLine = cmdline,
            Uarts = uarts,
            Acpi = m.ACPIEnabled,
            IoApic = m.IOAPICEnabled,
            Hpet = m.HPETEnabled,
            RtcUseUtc = m.RTCUseUTC,
            Uuid = m.HardwareUUID == Guid.Empty ? m.Id : m.HardwareUUID,
            TimeOffsetMs = m.TimeOffset,
        };
    }

    /// <summary>The back end of a serial port: the .vbox's host mode, with host-device paths "pty"/"pty:LINK" meaning a pseudo-terminal.</summary>
    private static string ModeOf(ISerialPort p, uint n) => p.HostMode switch
    {
        PortMode.Disconnected => "disconnected",
        PortMode.RawFile => "file",
        PortMode.HostPipe => p.Server ? "server" : "client",
        PortMode.TCP => p.Server ? "tcpserver" : "tcpclient",
        PortMode.HostDevice => p.Path == "pty" || p.Path.StartsWith("pty:", StringComparison.Ordinal) ? "pty" : "hostdevice",
        _ => throw new InvalidOperationException($"UART {n}: host mode {p.HostMode} is not supported"),
    };

    private static string? LocationOf(ISerialPort p)
    {
        if (p.HostMode == PortMode.Disconnected) return null;
        if (p.HostMode == PortMode.HostDevice && p.Path == "pty") return null;
        if (p.HostMode == PortMode.HostDevice && p.Path.StartsWith("pty:", StringComparison.Ordinal)) return p.Path[4..];
        return p.Path;
    }

    public static string Describe(PcMachineConfig c) => string.Create(CultureInfo.InvariantCulture,
        $"RAM {c.RamBytes >> 20} MiB, {c.Cpus} CPU(s), ACPI {(c.Acpi ? "on" : "off")}, HPET {(c.Hpet ? "on" : "off")}, RTC {(c.RtcUseUtc ? "UTC" : "local time")}");
}
