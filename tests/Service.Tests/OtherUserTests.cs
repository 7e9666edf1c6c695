using System.Diagnostics;

namespace SharpBox.Service.Tests;

/// <summary>
/// A client of another user is refused twice over: the socket is 0600 (connect fails with EACCES),
/// and even when the socket is opened up, VBoxSVC checks the peer's user id (SO_PEERCRED) and says no.
/// Uses a throwaway account (created and removed here; needs root).
/// </summary>
public class OtherUserTests
{
    // A minimal client in Python, so that the other user needs nothing of ours to run it.
    private const string Client = """
        import json, socket, struct, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sys.argv[1])
        except OSError as e:
            print("CONNECT-FAILED", e.errno, e.strerror); sys.exit(0)
        msg = json.dumps({"op": "hello", "proto": 1, "client": "intruder", "pid": 0}).encode()
        s.sendall(struct.pack("<i", len(msg)) + msg)
        hdr = b""
        while len(hdr) < 4:
            chunk = s.recv(4 - len(hdr))
            if not chunk: print("CLOSED"); sys.exit(0)
            hdr += chunk
        n = struct.unpack("<i", hdr)[0]
        body = b""
        while len(body) < n:
            body += s.recv(n - len(body))
        print("ANSWER", body.decode())
        """;

    [Fact]
    public void AnotherUsersClientIsRefused()
    {
        if (Environment.UserName != "root" || !Tool.Exists("useradd") || !Tool.Exists("runuser") || !Tool.Exists("python3"))
        {
            Console.WriteLine("OtherUserTests: skipped (needs root, useradd, runuser and python3 to act as another user)");
            return;
        }
        string user = "sbxsvc" + Environment.ProcessId % 100000;
        CliResult add = Tool.Run("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user);
        Assert.True(add.ExitCode == 0, add.ToString());
        try
        {
            using var h = new SvcHome(setMachineFolder: false);
            h.Ok("list", "vms");
            int pid = h.ServicePid();
            string script = Path.Combine(h.Root, "client.py");
            File.WriteAllText(script, Client);
            // The other user can reach the folder and run the script, but the socket is 0600.
            foreach (string d in new[] { h.Root, h.Home })
                File.SetUnixFileMode(d, File.GetUnixFileMode(d) | UnixFileMode.OtherExecute | UnixFileMode.OtherRead);
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            CliResult denied = Tool.Run("runuser", "-u", user, "--", "python3", script, h.SocketPath);
            Assert.Contains("CONNECT-FAILED 13", denied.Stdout + denied.Stderr);

            // Opened up (as a careless chmod would), the connection is made, and VBoxSVC refuses it.
            File.SetUnixFileMode(h.SocketPath, (UnixFileMode)0x1b6 /* 0666 */);
            CliResult refused = Tool.Run("runuser", "-u", user, "--", "python3", script, h.SocketPath);
            Assert.Contains("ANSWER", refused.Stdout);
            Assert.Contains("\"op\":\"refused\"", refused.Stdout);
            Assert.Contains("refuses clients of user id", refused.Stdout);
            Assert.Contains("Refused a client of uid", h.Log);
            // The owner is still served by the same service.
            Assert.Equal(pid, h.ServicePid());
        }
        finally
        {
            CliResult del = Tool.Run("userdel", user);
            Assert.True(del.ExitCode == 0, del.ToString());
        }
    }
}
