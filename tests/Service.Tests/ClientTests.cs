using System.Diagnostics;
using SharpBox.Main.Api;
using SharpBox.Main.Remote;

namespace SharpBox.Service.Tests;

/// <summary>
/// What clients of one VBoxSVC see of each other: pushed events, VirtualBox's session locks (a
/// second writer gets VirtualBox's error, the session of a client that goes away is unlocked), no
/// lost updates, and errors that cross the socket unchanged.
/// </summary>
public class ClientTests
{
    [Fact]
    public void ChangesMadeByOneClientArePushedToAnother()
    {
        using var h = new SvcHome();
        using RemoteConnection watcher = h.Connect("watcher");
        var events = new EventCollector(watcher.Root);

        string uuid = h.CreateVm("watched");
        Guid id = Guid.Parse(uuid);
        Assert.NotNull(events.WaitFor(e => e.Type == VBoxEventType.MachineRegistered && e.MachineId == id && e.Registered));

        h.Ok("modifyvm", "watched", "--memory", "96");
        VBoxEvent? locked = events.WaitFor(e => e.Type == VBoxEventType.SessionStateChanged && e.MachineId == id && e.SessionState == SessionState.Locked);
        Assert.NotNull(locked);
        VBoxEvent? data = events.WaitFor(e => e.Type == VBoxEventType.MachineDataChanged && e.MachineId == id);
        Assert.NotNull(data);
        VBoxEvent? unlocked = events.WaitFor(e => e.Type == VBoxEventType.SessionStateChanged && e.MachineId == id && e.SessionState == SessionState.Unlocked);
        Assert.NotNull(unlocked);
        Assert.True(locked!.Sequence < data!.Sequence && data.Sequence < unlocked!.Sequence, "events arrive in order");
        // The watcher's view is the new truth at once.
        Assert.Equal(96u, watcher.Root.FindMachine(uuid).MemorySize);

        h.Ok("setextradata", "watched", "color", "blue");
        VBoxEvent? extra = events.WaitFor(e => e.Type == VBoxEventType.ExtraDataChanged && e.MachineId == id);
        Assert.Equal("color", extra?.Key);
        Assert.Equal("blue", extra?.Value);

        string disk = Path.Combine(h.MachineFolder, "d.vdi");
        h.Ok("createmedium", "disk", "--filename", disk, "--size", "4");
        Assert.NotNull(events.WaitFor(e => e.Type == VBoxEventType.MediumRegistered && e.Registered));

        h.Ok("unregistervm", "watched");
        Assert.NotNull(events.WaitFor(e => e.Type == VBoxEventType.MachineRegistered && e.MachineId == id && !e.Registered));
    }

    [Fact]
    public void SecondWriterGetsVirtualBoxsErrorAndNothingIsLost()
    {
        using var h = new SvcHome();
        string uuid = h.CreateVm("contended");
        using RemoteConnection a = h.Connect("client A");
        using RemoteConnection b = h.Connect("client B");
        IMachine ma = a.Root.FindMachine(uuid);
        ISession sa = a.Root.CreateSession();
        ma.LockMachine(sa, LockType.Write);
        sa.Machine.MemorySize = 200;

        // B (another connection) and VBoxManage are refused at once, with VirtualBox's words.
        IMachine mb = b.Root.FindMachine(uuid);
        ISession sb = b.Root.CreateSession();
        var sw = Stopwatch.StartNew();
        VBoxException e = Assert.Throws<VBoxException>(() => mb.LockMachine(sb, LockType.Write));
        Assert.True(sw.ElapsedMilliseconds < 5000, "the loser is told at once, not after a timeout");
        Assert.Equal(ResultCode.VBOX_E_INVALID_OBJECT_STATE, e.ResultCode);
        Assert.Equal("The machine 'contended' is already locked for a session (or being unlocked)", e.Message);
        Assert.Equal("MachineWrap", e.Info.Component);
        Assert.Equal(SessionState.Locked, mb.SessionState);
        CliResult cli = h.Fails(1, "modifyvm", uuid, "--cpus", "2");
        Assert.Contains("VBoxManage: error: The machine 'contended' is already locked for a session (or being unlocked)", cli.Stderr);
        Assert.Contains("code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine", cli.Stderr);
        // A shared lock (a console) is allowed beside the writer.
        mb.LockMachine(sb, LockType.Shared);
        Assert.Equal(SessionType.Shared, sb.Type);
        sb.UnlockMachine();

        sa.Machine.SaveSettings();
        sa.UnlockMachine();
        mb.LockMachine(sb, LockType.Write);
        Assert.Equal(200u, sb.Machine.MemorySize);
        sb.Machine.CPUCount = 1;
        sb.Machine.Description = "b was here";
        sb.Machine.SaveSettings();
        sb.UnlockMachine();
        var info = h.Ok("showvminfo", uuid, "--machinereadable").Stdout;
        Assert.Contains("memory=200", info);
        Assert.Contains("description=\"b was here\"", info);
    }

    [Fact]
    public async Task RacingClientsNeverLoseAnUpdate()
    {
        using var h = new SvcHome();
        string uuid = h.CreateVm("raced");
        const int rounds = 15;
        int refusals = 0;
        void Worker(string key)
        {
            using RemoteConnection c = h.Connect(key);
            IMachine m = c.Root.FindMachine(uuid);
            ISession s = c.Root.CreateSession();
            for (int i = 0; i < rounds; i++)
            {
                while (true)
                {
                    try
                    {
                        m.LockMachine(s, LockType.Write);
                        break;
                    }
                    catch (VBoxException e) when (e.ResultCode == ResultCode.VBOX_E_INVALID_OBJECT_STATE)
                    {
                        Assert.Contains("is already locked for a session", e.Message);
                        Interlocked.Increment(ref refusals);
                        Thread.Sleep(1);
                    }
                }
                // Read-modify-write of one shared value plus one of our own.
                string counter = s.Machine.GetExtraData("counter");
                int n = counter.Length == 0 ? 0 : int.Parse(counter, System.Globalization.CultureInfo.InvariantCulture);
                s.Machine.SetExtraData("counter", (n + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
                s.Machine.SetExtraData($"{key}{i}", "x");
                s.Machine.SaveSettings();
                s.UnlockMachine();
            }
        }
        Task[] workers = new[] { "a", "b", "c" }.Select(k => Task.Factory.StartNew(() => Worker(k), TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(workers);
        string keys = h.Ok("getextradata", uuid, "enumerate").Stdout;
        Assert.Contains($"Key: counter, Value: {3 * rounds}\n", keys);
        foreach (string k in new[] { "a", "b", "c" })
            for (int i = 0; i < rounds; i++)
                Assert.Contains($"Key: {k}{i}, Value: x\n", keys);
        _ = refusals; // How often a client lost a race depends on timing; every loss was the clear error above.
    }

    [Fact]
    public void SessionOfAClientThatGoesAwayIsUnlocked()
    {
        using var h = new SvcHome();
        string uuid = h.CreateVm("orphaned");
        RemoteConnection dying = h.Connect("dying client");
        ISession s = dying.Root.CreateSession();
        dying.Root.FindMachine(uuid).LockMachine(s, LockType.Write);
        s.Machine.MemorySize = 300; // never saved
        h.Fails(1, "modifyvm", uuid, "--memory", "64");
        dying.Dispose(); // the socket closes as when the process dies

        Assert.True(SvcHome.WaitFor(() => h.Run("modifyvm", uuid, "--memory", "64").ExitCode == 0, 10_000), "the lock was not released");
        Assert.Contains("memory=64", h.Ok("showvminfo", uuid, "--machinereadable").Stdout);
        Assert.Contains("went away holding the session lock of machine", h.Log);

        // Calls on a closed connection fail clearly.
        VBoxException e = Assert.Throws<VBoxException>(() => dying.Root.FindMachine(uuid));
        Assert.Contains("connection to VBoxSVC was lost", e.Message);
    }

    [Fact]
    public void ErrorsCrossTheSocketUnchanged()
    {
        using var h = new SvcHome();
        using RemoteConnection c = h.Connect();
        VBoxException e = Assert.Throws<VBoxException>(() => c.Root.FindMachine("no-such-vm"));
        Assert.Equal(ResultCode.VBOX_E_OBJECT_NOT_FOUND, e.ResultCode);
        Assert.Equal("Could not find a registered machine named 'no-such-vm'", e.Message);
        Assert.Equal("VirtualBoxWrap", e.Info.Component);
        Assert.Equal("IVirtualBox", e.Info.Interface);
        // Values of every kind round-trip: records, lists, enums, Guids, dates.
        GuestOSType? os = c.Root.GetGuestOSType("Debian_64");
        Assert.NotNull(os);
        Assert.True(os!.Is64Bit);
        Assert.Equal(NetworkAdapterType.I82540EM, os.AdapterType);
        Assert.Contains(c.Root.GuestOSTypes, t => t.Id == "Windows11_64");
        IMachine m = c.Root.CreateMachine(null, "x", new[] { "/g" }, "Debian_64", null);
        Assert.Equal("Debian_64", m.OSTypeId);
        Assert.Equal(new[] { "/g" }, m.Groups);
        Assert.True(m.LastStateChange > DateTime.UtcNow.AddMinutes(-5) && m.LastStateChange.Kind == DateTimeKind.Utc);
        Assert.Equal(c.Service.Home, c.Root.HomeFolder);
    }
}
