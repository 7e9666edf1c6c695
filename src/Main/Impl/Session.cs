using SharpBox.Main.Api;
using SharpBox.Runtime;

namespace SharpBox.Main.Impl;

/// <summary>
/// A client session. A write lock (LockType.Write, VM, or Shared on an unlocked machine, as in
/// VirtualBox) gives <see cref="Machine"/> as a mutable copy of the machine loaded fresh from disk
/// under the lock of the machine's folder; the folder lock is held by the session (not a thread)
/// until <see cref="UnlockMachine"/>, so no other process can change the machine in between and
/// VBoxSVC may lock on one connection thread and unlock on another. A shared lock on a machine that
/// another session holds gives the registered, read-only machine (the console of a running VM).
/// </summary>
public sealed class Session : ISession
{
    private Machine? _machine;
    private FileLock? _lock;
    private SessionType _type;
    private VirtualBox? _vbox;
    private Guid _machineId;
    private VmConsole? _console;
    private MachineControl? _control;

    /// <summary>The kind of client ("headless" for a VM process; empty for API clients), shown as the session name.</summary>
    public string ClientName { get; }
    /// <summary>The client's process id (the peer of a VBoxSVC connection).</summary>
    public uint ClientPid { get; }

    public Session(string clientName = "", uint clientPid = 0)
    {
        ClientName = clientName;
        ClientPid = clientPid == 0 ? (uint)Environment.ProcessId : clientPid;
    }

    public SessionState State => _machine == null ? SessionState.Unlocked : SessionState.Locked;
    public SessionType Type => _machine == null ? SessionType.Null : _type;

    public IMachine Machine => _machine
        ?? throw new VBoxException(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The session is not locked (session state: Unlocked)", "SessionWrap", "ISession");

    internal bool IsLocked => _machine != null;
    /// <summary>How the session was locked (Write, VM or Shared).</summary>
    internal LockType LockType { get; private set; }
    internal Machine? LockedMachine => _machine;
    internal Guid MachineId => _machineId;
    internal FileLock? FolderLock => _lock;

    internal void Attach(VirtualBox vbox, Guid machineId, Machine machine, FileLock? fileLock, SessionType type, LockType lockType)
    {
        _vbox = vbox;
        _machineId = machineId;
        _machine = machine;
        _lock = fileLock;
        _type = type;
        LockType = lockType;
        _console = null;
        _control = null;
    }

    private VBoxException NotLocked() => new(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The session is not locked (session state: Unlocked)", "SessionWrap", "ISession");

    public IConsole Console
    {
        get
        {
            if (_machine == null || _vbox == null)
                throw NotLocked();
            return _console ??= new VmConsole(_vbox, _machineId, _machine);
        }
    }

    public IInternalMachineControl Control
    {
        get
        {
            if (_machine == null || _vbox == null)
                throw NotLocked();
            if (LockType != LockType.VM)
                throw new VBoxException(ResultCode.VBOX_E_INVALID_SESSION_STATE, "Only the VM process' session (LockType.VM) reports to VBoxSVC", "SessionWrap", "ISession");
            return _control ??= new MachineControl(_vbox, this);
        }
    }

    public void UnlockMachine()
    {
        if (_machine == null)
            throw new VBoxException(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The session is not locked (session state: Unlocked)", "SessionWrap", "ISession");
        if (_type != SessionType.Shared)
            _machine.Detach();
        _machine = null;
        _lock?.Dispose();
        _lock = null;
        _vbox?.SessionEnded(this);
    }
}
