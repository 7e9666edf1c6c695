using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Dbgf;

/// <summary>
/// A gdb remote-serial-protocol server on 127.0.0.1 for one <see cref="IDebugTarget"/>: registers
/// (target.xml: GPRs, segments, x87/SSE, segment bases, control/debug/descriptor-table registers),
/// memory by linear address (through the vCPU's page tables) or by physical address ("monitor phys
/// on"), software and hardware breakpoints (executed by the engine: nothing is patched into guest
/// memory), watchpoints (the engine's debug registers; where the engine has none, write, read and
/// access watchpoints are emulated by single stepping: changed bytes, or the decoded instruction's
/// data accesses), single step, and every vCPU as a gdb thread. One client at a
/// time; a client that connects stops the target, one that leaves lets it run on.
/// </summary>
public sealed class GdbStub : IDisposable
{
    private readonly IDebugTarget _target;
    private readonly TcpListener _listener;
    private readonly Thread _acceptThread;
    private readonly Action<string> _log;
    private volatile bool _disposed;
    private Socket? _client;

    private readonly List<ulong> _breakpoints = new();
    private readonly List<DebugWatchpoint> _watchpoints = new();
    private readonly ManualResetEventSlim _stopped = new(false);
    private DebugStop _lastStop;
    private int _gThread = 0, _cThread = 0;     // vCPU index for g/m and for c/s (0-based)
    private bool _noAck, _physical, _swBreakReport, _hwBreakReport;
    private readonly HashSet<ulong> _hwBreakpoints = new();

    /// <summary>Commands of "monitor ..." beyond the stub's own (the VM's info items); returns text or null if unknown.</summary>
    public Func<string, string?>? MonitorCommand { get; set; }

    public int Port { get; }

    public GdbStub(IDebugTarget target, int port = 0, Action<string>? log = null)
    {
        _target = target;
        _log = log ?? (_ => { });
        _listener = new TcpListener(IPAddress.Loopback, port);
        try { _listener.Start(1); }
        catch (SocketException e) { throw new IOException($"DBGF: cannot listen for gdb on 127.0.0.1:{port}: {e.Message}", e); }
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _target.Stopped += OnStopped;
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "gdb-stub" };
        _acceptThread.Start();
        _log($"DBGF: gdb stub listening on 127.0.0.1:{Port}");
    }

    private void OnStopped(DebugStop s)
    {
        _lastStop = s;
        _stopped.Set();
    }

    private void AcceptLoop()
    {
        while (!_disposed)
        {
            Socket s;
            try { s = _listener.AcceptSocket(); }
            catch (SocketException) { if (_disposed) return; continue; }
            catch (ObjectDisposedException) { return; }
            _client = s;
            s.NoDelay = true;
            _log($"DBGF: gdb connected from {s.RemoteEndPoint}");
            try { Serve(s); }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { _log($"DBGF: gdb connection ended: {e.Message}"); }
            finally
            {
                _client = null;
                try { s.Dispose(); } catch (ObjectDisposedException) { }
                LeaveRunning();
            }
        }
    }

    /// <summary>A client that went away must not leave the VM stopped or trapping on its breakpoints.</summary>
    private void LeaveRunning()
    {
        if (_disposed) return;
        _breakpoints.Clear();
        _hwBreakpoints.Clear();
        _watchpoints.Clear();
        try
        {
            ApplyDebugState(-1, false);
            if (!_target.IsRunning && _lastStop.Reason != DebugStopReason.Exited) _target.Resume();
        }
        catch (Exception e) when (e is not OutOfMemoryException) { _log($"DBGF: could not resume after the debugger left: {e.Message}"); }
        _log("DBGF: gdb detached; the VM runs on");
    }

    // ---- packet layer ----

    private sealed class Conn(Socket s)
    {
        private readonly byte[] _buf = new byte[4096];
        private int _pos, _len;
        public Socket Socket => s;

        public int ReadByte(int timeoutMs = -1)
        {
            if (_pos < _len) return _buf[_pos++];
            if (timeoutMs >= 0 && !s.Poll(timeoutMs * 1000, SelectMode.SelectRead)) return -2;
            _len = s.Receive(_buf);
            _pos = 0;
            if (_len <= 0) throw new IOException("the debugger closed the connection");
            return _buf[_pos++];
        }

        public bool HasData => _pos < _len || s.Available > 0;
    }

    private void Serve(Socket s)
    {
        var conn = new Conn(s);
        _noAck = false; _physical = false; _gThread = 0; _cThread = 0;
        if (_target.IsRunning) _target.Halt();
        _stopped.Reset();
        _lastStop = new DebugStop(0, DebugStopReason.Requested);
        while (!_disposed)
        {
            string? packet = ReadPacket(conn);
            if (packet is null) continue;
            string? reply;
            bool close;
            try { reply = Handle(packet, conn, out close); }
            catch (Exception e) when (e is not (IOException or SocketException or ObjectDisposedException or OutOfMemoryException))
            {
                // A bad packet or a failing target call must not take the VM process down.
                _log($"DBGF: gdb packet '{(packet.Length > 40 ? packet[..40] + "..." : packet)}' failed: {e.GetType().Name}: {e.Message}");
                reply = "E01";
                close = false;
            }
            if (reply is not null) Send(s, reply);
            if (close) return;
        }
    }

    private string? ReadPacket(Conn c)
    {
        int b;
        do
        {
            b = c.ReadByte();
            if (b == 0x03) { _target.Halt(); _lastStop = new DebugStop(_cThread, DebugStopReason.Requested); Send(c.Socket, StopReply(_lastStop)); }
        } while (b != '$');
        var sb = new StringBuilder();
        while ((b = c.ReadByte()) != '#') sb.Append((char)b);
        int h = c.ReadByte(), l = c.ReadByte();
        byte sum = 0;
        foreach (char ch in sb.ToString()) sum += (byte)ch;
        bool ok = int.TryParse($"{(char)h}{(char)l}", NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int want) && want == sum;
        if (!_noAck) c.Socket.Send(ok ? "+"u8 : "-"u8);
        return ok ? sb.ToString() : null;
    }

    private void Send(Socket s, string payload)
    {
        byte sum = 0;
        var body = new StringBuilder(payload.Length + 8);
        foreach (char ch in payload)
        {
            if (ch is '#' or '$' or '}' or '*') { body.Append('}').Append((char)(ch ^ 0x20)); sum += (byte)'}'; sum += (byte)(ch ^ 0x20); }
            else { body.Append(ch); sum += (byte)ch; }
        }
        var bytes = Encoding.Latin1.GetBytes($"${body}#{sum:x2}");
        lock (s) s.Send(bytes);
        // Acks from the client ('+') are read and skipped by ReadPacket.
    }

    // ---- commands ----

    private string? Handle(string p, Conn conn, out bool close)
    {
        close = false;
        if (p.Length == 0) return "";
        switch (p[0])
        {
            case '?': return StopReply(_lastStop);
            case 'g': return ReadAllRegisters();
            case 'G': return WriteAllRegisters(p[1..]);
            case 'p': return ReadRegister(p[1..]);
            case 'P': return WriteRegister(p[1..]);
            case 'm': return ReadMemory(p[1..]);
            case 'M': return WriteMemory(p[1..], binary: false);
            case 'X': return WriteMemory(p[1..], binary: true);
            case 'H': return SelectThread(p);
            case 'T': return int.TryParse(p[1..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int t) && t >= 1 && t <= _target.CpuCount ? "OK" : "E01";
            case 'c': return Continue(conn, -1);
            case 's': return Step(conn, _cThread);
            case 'Z': return SetPoint(p[1..], insert: true);
            case 'z': return SetPoint(p[1..], insert: false);
            case 'D':
                close = true;
                return "OK";
            case 'k':
                close = true;
                return null;
            case 'v': return HandleV(p, conn);
            case 'q': return HandleQuery(p);
            case 'Q':
                if (p == "QStartNoAckMode") { Send(conn.Socket, "OK"); _noAck = true; return null; }
                return "";
        }
        return "";
    }

    private string HandleV(string p, Conn conn)
    {
        if (p == "vCont?") return "vCont;c;C;s;S;t";
        if (p == "vMustReplyEmpty") return "";
        if (p.StartsWith("vCont;", StringComparison.Ordinal))
        {
            // The first action naming a thread (or the default action) decides: a step of one vCPU, or continue.
            foreach (var action in p[6..].Split(';'))
            {
                var parts = action.Split(':');
                char a = parts[0].Length > 0 ? parts[0][0] : 'c';
                int cpu = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int tid) && tid > 0 ? tid - 1 : _cThread;
                if (a is 's' or 'S') return Step(conn, Math.Clamp(cpu, 0, _target.CpuCount - 1));
                if (a is 't') { _target.Halt(); _lastStop = new DebugStop(cpu, DebugStopReason.Requested); return StopReply(_lastStop); }
            }
            return Continue(conn, -1);
        }
        return "";
    }

    private string HandleQuery(string p)
    {
        if (p.StartsWith("qSupported", StringComparison.Ordinal))
        {
            _swBreakReport = p.Contains("swbreak+", StringComparison.Ordinal);
            _hwBreakReport = p.Contains("hwbreak+", StringComparison.Ordinal);
            return "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+;hwbreak+";
        }
        if (p.StartsWith("qXfer:features:read:target.xml:", StringComparison.Ordinal))
        {
            var range = p["qXfer:features:read:target.xml:".Length..].Split(',');
            int off = int.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            int len = int.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            string xml = GdbRegisters.TargetXml;
            if (off >= xml.Length) return "l";
            string chunk = xml.Substring(off, Math.Min(len, xml.Length - off));
            return (off + chunk.Length >= xml.Length ? "l" : "m") + chunk;
        }
        if (p.StartsWith("qXfer:", StringComparison.Ordinal)) return "E00";
        if (p == "qfThreadInfo")
            return "m" + string.Join(",", Enumerable.Range(1, _target.CpuCount).Select(i => i.ToString("x", CultureInfo.InvariantCulture)));
        if (p == "qsThreadInfo") return "l";
        if (p == "qC") return $"QC{_cThread + 1:x}";
        if (p == "qAttached") return "1";
        if (p.StartsWith("qThreadExtraInfo,", StringComparison.Ordinal))
        {
            int tid = int.Parse(p[17..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            return Hex(Encoding.ASCII.GetBytes($"vCPU {tid - 1}"));
        }
        if (p.StartsWith("qRcmd,", StringComparison.Ordinal))
        {
            string cmd = Encoding.ASCII.GetString(FromHex(p[6..]));
            string? text = Monitor(cmd.Trim());
            if (text is null) return "E01";
            if (text.Length > 0) Send(_client!, "O" + Hex(Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text : text + "\n")));
            return "OK";
        }
        return "";
    }

    private string? Monitor(string cmd)
    {
        switch (cmd)
        {
            case "phys on": _physical = true; return "memory accesses now use guest-physical addresses\n";
            case "phys off": _physical = false; return "memory accesses now use linear addresses\n";
            case "help":
                return "phys on|off   m/M/X packets use physical (on) or linear (off) addresses\n" +
                       (MonitorCommand?.Invoke("help") ?? "");
        }
        return MonitorCommand?.Invoke(cmd);
    }

    private string SelectThread(string p)
    {
        if (p.Length < 3) return "E01";
        string id = p[2..];
        int cpu = id is "0" or "-1" ? 0 : int.TryParse(id, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int t) ? t - 1 : -1;
        if (cpu < 0 || cpu >= _target.CpuCount) return "E01";
        if (p[1] == 'g') _gThread = cpu; else _cThread = cpu;
        return "OK";
    }

    // ---- registers ----

    private CpuContext State(int cpu)
    {
        var c = new CpuContext();
        _target.GetCpu(cpu).GetState(ref c);
        return c;
    }

    private string ReadAllRegisters()
    {
        var c = State(_gThread);
        var sb = new StringBuilder();
        Span<byte> b = stackalloc byte[16];
        for (int n = 0; n < GdbRegisters.Count; n++)
        {
            GdbRegisters.Read(ref c, n, b);
            sb.Append(Hex(b[..GdbRegisters.SizeOf(n)]));
        }
        return sb.ToString();
    }

    private string WriteAllRegisters(string hex)
    {
        var bytes = FromHex(hex);
        var c = State(_gThread);
        int off = 0;
        for (int n = 0; n < GdbRegisters.Count && off + GdbRegisters.SizeOf(n) <= bytes.Length; n++)
        {
            GdbRegisters.Write(ref c, n, bytes.AsSpan(off, GdbRegisters.SizeOf(n)));
            off += GdbRegisters.SizeOf(n);
        }
        return SetState(c);
    }

    private string ReadRegister(string arg)
    {
        if (!int.TryParse(arg, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int n) || n < 0 || n >= GdbRegisters.Count) return "E00";
        var c = State(_gThread);
        Span<byte> b = stackalloc byte[16];
        GdbRegisters.Read(ref c, n, b);
        return Hex(b[..GdbRegisters.SizeOf(n)]);
    }

    private string WriteRegister(string arg)
    {
        int eq = arg.IndexOf('=');
        if (eq < 0 || !int.TryParse(arg[..eq], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int n) || n < 0 || n >= GdbRegisters.Count) return "E00";
        var bytes = FromHex(arg[(eq + 1)..]);
        if (bytes.Length < GdbRegisters.SizeOf(n)) return "E00";
        var c = State(_gThread);
        GdbRegisters.Write(ref c, n, bytes);
        return SetState(c);
    }

    private string SetState(CpuContext c)
    {
        try { _target.GetCpu(_gThread).SetState(in c); return "OK"; }
        catch (ArgumentException e) { _log($"DBGF: register write refused: {e.Message}"); return "E22"; }
    }

    // ---- memory ----

    private int ReadMem(ulong addr, Span<byte> into)
    {
        if (_physical) return _target.ReadPhysical(addr, into);
        var c = State(_gThread);
        return GuestPaging.ReadLinear(c, addr, into, _target.ReadPhysical);
    }

    private int WriteMem(ulong addr, ReadOnlySpan<byte> data)
    {
        if (_physical) return _target.WritePhysical(addr, data);
        var c = State(_gThread);
        int done = 0;
        while (done < data.Length)
        {
            ulong lin = addr + (ulong)done;
            int chunk = (int)Math.Min((ulong)(data.Length - done), 0x1000 - (lin & 0xFFF));
            if (!GuestPaging.Translate(c, lin, _target.ReadPhysical, out ulong pa)) break;
            int n = _target.WritePhysical(pa, data.Slice(done, chunk));
            done += n;
            if (n < chunk) break;
        }
        return done;
    }

    private string ReadMemory(string arg)
    {
        var parts = arg.Split(',');
        if (parts.Length != 2 || !ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong addr)
            || !int.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int len) || len < 0) return "E01";
        len = Math.Min(len, 0x1000);
        var buf = new byte[len];
        int n = ReadMem(addr, buf);
        return n == 0 && len > 0 ? "E14" : Hex(buf.AsSpan(0, n));
    }

    private string WriteMemory(string arg, bool binary)
    {
        int colon = arg.IndexOf(':');
        if (colon < 0) return "E01";
        var parts = arg[..colon].Split(',');
        if (parts.Length != 2 || !ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong addr)
            || !int.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int len)) return "E01";
        byte[] data = binary ? Unescape(arg[(colon + 1)..]) : FromHex(arg[(colon + 1)..]);
        if (data.Length != len) return "E01";
        return WriteMem(addr, data) == len ? "OK" : "E14";
    }

    // ---- run control ----

    private string SetPoint(string arg, bool insert)
    {
        var parts = arg.Split(',');
        if (parts.Length < 3 || !int.TryParse(parts[0], out int type)
            || !ulong.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong addr)
            || !int.TryParse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int kind)) return "E01";
        switch (type)
        {
            case 0 or 1:
                if (insert) { if (!_breakpoints.Contains(addr)) _breakpoints.Add(addr); if (type == 1) _hwBreakpoints.Add(addr); }
                else { _breakpoints.Remove(addr); _hwBreakpoints.Remove(addr); }
                break;
            case 2 or 3 or 4:
                var w = new DebugWatchpoint(addr, kind, type == 2 ? DebugWatchKind.Write : type == 3 ? DebugWatchKind.Read : DebugWatchKind.Access);
                if (insert)
                {
                    _watchpoints.Add(w);
                }
                else _watchpoints.Remove(w);
                break;
            default: return "";
        }
        try { ApplyDebugState(-1, false); }
        catch (ArgumentException e)
        {
            // The engine has no room for it (the KVM engine's four debug registers): undo and refuse.
            _log($"DBGF: {e.Message}");
            if (insert)
            {
                if (type <= 1) { _breakpoints.Remove(addr); _hwBreakpoints.Remove(addr); }
                else _watchpoints.RemoveAt(_watchpoints.Count - 1);
                ApplyDebugState(-1, false);
            }
            return "E28";
        }
        return "OK";
    }

    private bool HardwareWatchpoints()
    {
        for (int i = 0; i < _target.CpuCount; i++) if (_target.GetCpu(i) is not IVcpuWatchpoints { MaxWatchpoints: > 0 }) return false;
        return true;
    }

    /// <summary>Pushes breakpoints, watchpoints and the step request into the vCPUs (the target is stopped).</summary>
    private void ApplyDebugState(int stepCpu, bool softwareWatch)
    {
        var bps = _breakpoints.ToArray();
        for (int i = 0; i < _target.CpuCount; i++)
        {
            var cpu = _target.GetCpu(i);
            cpu.SetDebugBreakpoints(bps);
            if (cpu is IVcpuWatchpoints w)
                w.SetDebugWatchpoints(softwareWatch || !HardwareWatchpoints() ? ReadOnlySpan<DebugWatchpoint>.Empty : _watchpoints.ToArray());
            cpu.DebugSingleStep = i == stepCpu;
        }
    }

    private string Step(Conn conn, int cpu)
    {
        ApplyDebugState(cpu, false);
        return RunUntilStop(conn, cpu);
    }

    private string Continue(Conn conn, int onlyCpu)
    {
        if (_watchpoints.Count > 0 && !HardwareWatchpoints()) return ContinueWatchingBySteps(conn);
        ApplyDebugState(-1, false);
        return RunUntilStop(conn, onlyCpu);
    }

    private string RunUntilStop(Conn conn, int onlyCpu)
    {
        _stopped.Reset();
        _target.Resume(onlyCpu);
        while (!_stopped.Wait(20))
        {
            if (!conn.HasData) continue;
            int b = conn.ReadByte(0);
            if (b == 0x03)
            {
                _target.Halt();
                _lastStop = new DebugStop(_cThread, DebugStopReason.Requested);
                return StopReply(_lastStop);
            }
        }
        _cThread = _gThread = Math.Clamp(_lastStop.Cpu, 0, _target.CpuCount - 1);
        return StopReply(_lastStop);
    }

    /// <summary>
    /// Watchpoints without hardware: single-step the current vCPU. A write watchpoint fires when the
    /// watched bytes changed; read and access watchpoints when the instruction about to run (decoded
    /// with its registers) reads, or for access also writes, the watched range.
    /// </summary>
    private string ContinueWatchingBySteps(Conn conn)
    {
        int cpu = _cThread;
        var before = _watchpoints.Select(w => ReadWatched(cpu, w)).ToList();
        bool decode = _watchpoints.Exists(w => w.Kind != DebugWatchKind.Write);
        var code = new byte[15];
        while (true)
        {
            List<Disassembler.DataAccess>? accesses = null;
            if (decode)
            {
                var c = State(cpu);
                ulong lin = Disassembler.Bitness(c) == 64 ? c.Rip : (c.Seg[SegIdx.CS].Base + c.Rip) & 0xFFFFFFFF;
                int n = GuestPaging.ReadLinear(c, lin, code, _target.ReadPhysical);
                accesses = n > 0 ? Disassembler.DataAccesses(c, code.AsSpan(0, n)) : null;
            }
            ApplyDebugState(cpu, true);
            string reply = RunUntilStop(conn, cpu);
            if (_lastStop.Reason != DebugStopReason.SingleStep) return reply;
            for (int i = 0; i < _watchpoints.Count; i++)
            {
                var w = _watchpoints[i];
                bool hit = false;
                if (w.Kind != DebugWatchKind.Write && accesses is not null)
                    foreach (var a in accesses)
                        if ((a.Read || (a.Write && w.Kind == DebugWatchKind.Access)) && a.Linear < w.Address + (ulong)Math.Max(1, w.Length) && w.Address < a.Linear + (ulong)a.Size)
                            hit = true;
                byte[] now = ReadWatched(cpu, w);
                if (w.Kind != DebugWatchKind.Read && !now.AsSpan().SequenceEqual(before[i])) hit = true;
                before[i] = now;
                if (hit)
                {
                    _lastStop = new DebugStop(cpu, DebugStopReason.Watchpoint, w.Address, w.Kind);
                    return StopReply(_lastStop);
                }
            }
        }
    }

    private byte[] ReadWatched(int cpu, DebugWatchpoint w)
    {
        var b = new byte[Math.Clamp(w.Length, 1, 64)];
        var c = State(cpu);
        GuestPaging.ReadLinear(c, w.Address, b, _target.ReadPhysical);
        return b;
    }

    private string StopReply(DebugStop s)
    {
        string tid = $"thread:{s.Cpu + 1:x};";
        return s.Reason switch
        {
            DebugStopReason.Exited => $"W{s.ExitCode & 0xFF:x2}",
            DebugStopReason.Requested => $"T02{tid}",
            DebugStopReason.Watchpoint => $"T05{tid}{(s.WatchKind == DebugWatchKind.Write ? "watch" : s.WatchKind == DebugWatchKind.Read ? "rwatch" : "awatch")}:{s.Address:x};",
            DebugStopReason.Breakpoint => $"T05{tid}{BreakKind(s.Address)}",
            DebugStopReason.Fault => $"T0b{tid}",
            _ => $"T05{tid}",
        };
    }

    private string BreakKind(ulong address)
    {
        if (_hwBreakpoints.Contains(address)) return _hwBreakReport ? "hwbreak:;" : "";
        return _swBreakReport ? "swbreak:;" : "";
    }

    // ---- encoding ----

    private static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexString(b).ToLowerInvariant();

    private static byte[] FromHex(string s)
    {
        if (s.Length % 2 != 0) s = s[..^1];
        return Convert.FromHexString(s);
    }

    private static byte[] Unescape(string s)
    {
        var list = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '}' && i + 1 < s.Length) list.Add((byte)(s[++i] ^ 0x20));
            else list.Add((byte)s[i]);
        }
        return list.ToArray();
    }

    public void Dispose()
    {
        _disposed = true;
        _target.Stopped -= OnStopped;
        _listener.Stop();
        try { _client?.Dispose(); } catch (ObjectDisposedException) { }
        _acceptThread.Join(2000);
        _stopped.Dispose();
    }
}
