using SharpBox.Main.Api;
using SharpBox.Runtime;

namespace SharpBox.Main.Impl;

/// <summary>
/// A client session. While it holds a machine lock, <see cref="Machine"/> is a mutable copy of the
/// machine loaded fresh from disk under the lock of the machine's folder; the lock is held until
/// <see cref="UnlockMachine"/>, so no other process can change the machine in between.
/// </summary>
internal sealed class Session : ISession
{
    private Machine? _machine;
    private FileLock? _lock;
    private SessionType _type;

    public SessionState State => _machine == null ? SessionState.Unlocked : SessionState.Locked;
    public SessionType Type => _machine == null ? SessionType.Null : _type;

    public IMachine Machine => _machine
        ?? throw new VBoxException(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The session is not locked (session state: Unlocked)", "SessionWrap", "ISession");

    internal bool IsLocked => _machine != null;

    internal void Attach(Machine machine, FileLock fileLock, SessionType type)
    {
        _machine = machine;
        _lock = fileLock;
        _type = type;
    }

    public void UnlockMachine()
    {
        if (_machine == null)
            throw new VBoxException(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The session is not locked (session state: Unlocked)", "SessionWrap", "ISession");
        _machine.Detach();
        _machine = null;
        _lock?.Dispose();
        _lock = null;
    }
}
