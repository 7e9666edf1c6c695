using System.Diagnostics;

namespace SharpBox.Main.Tests;

/// <summary>
/// Two VBoxManage processes changing the same machine (or the same VirtualBox.xml) at the same time
/// never lose an update: every change of both ends up in the files. As in VirtualBox, a client
/// changing a machine another client has locked is told so at once (and the script retries).
/// </summary>
public class ConcurrencyTests
{
    private static (int Exit, string Output) Finish(Process p)
    {
        Task<string> o = p.StandardOutput.ReadToEndAsync();
        Task<string> e = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(180_000), "concurrent script did not finish");
        return (p.ExitCode, o.Result + e.Result);
    }

    [Fact]
    public void TwoProcessesChangingOneMachineLoseNothing()
    {
        using var h = new VBoxManageHome();
        string uuid = h.CreateVm("shared");
        const int n = 12;
        // Process A sets extra data a0..a11 and changes the description each time; process B sets b0..b11
        // and the memory size. modifyvm locks the machine for its whole run; the loser of a race is told
        // so (and nothing else) and tries again, as scripts written for VBoxManage do.
        const string retry = "until out=$(\"$VBM\" \"$@\" 2>&1); do echo \"$out\" | grep -q 'is already locked for a session (or being unlocked)' || { echo \"$out\"; exit 1; }; sleep 0.02; done";
        using Process a = h.StartScript($"vbm() {{ {retry}; }}; for i in $(seq 0 {n - 1}); do vbm setextradata {uuid} a$i va$i && vbm modifyvm {uuid} --description d$i || exit 1; done");
        using Process b = h.StartScript($"vbm() {{ {retry}; }}; for i in $(seq 0 {n - 1}); do vbm setextradata {uuid} b$i vb$i && vbm modifyvm {uuid} --memory $((64 + i)) || exit 1; done");
        var ra = Finish(a);
        var rb = Finish(b);
        Assert.True(ra.Exit == 0, ra.Output);
        Assert.True(rb.Exit == 0, rb.Output);

        string keys = h.Ok("getextradata", uuid, "enumerate").Stdout;
        for (int i = 0; i < n; i++)
        {
            Assert.Contains($"Key: a{i}, Value: va{i}\n", keys);
            Assert.Contains($"Key: b{i}, Value: vb{i}\n", keys);
        }
        Dictionary<string, string> info = h.Info(uuid);
        Assert.Equal($"d{n - 1}", info["description"]);
        Assert.Equal($"{64 + n - 1}", info["memory"]);
    }

    [Fact]
    public void TwoProcessesChangingTheRegistryLoseNothing()
    {
        using var h = new VBoxManageHome();
        const int n = 6;
        using Process a = h.StartScript($"for i in $(seq 0 {n - 1}); do \"$VBM\" createvm --name a$i --register >/dev/null && \"$VBM\" setextradata global ga$i $i || exit 1; done");
        using Process b = h.StartScript($"for i in $(seq 0 {n - 1}); do \"$VBM\" createvm --name b$i --register >/dev/null && \"$VBM\" setextradata global gb$i $i || exit 1; done");
        var ra = Finish(a);
        var rb = Finish(b);
        Assert.True(ra.Exit == 0, ra.Output);
        Assert.True(rb.Exit == 0, rb.Output);
        string vms = h.Ok("list", "vms").Stdout;
        string global = h.Ok("getextradata", "global", "enumerate").Stdout;
        for (int i = 0; i < n; i++)
        {
            Assert.Contains($"\"a{i}\" {{", vms);
            Assert.Contains($"\"b{i}\" {{", vms);
            Assert.Contains($"Key: ga{i}, Value: {i}\n", global);
            Assert.Contains($"Key: gb{i}, Value: {i}\n", global);
        }
        Assert.Equal(2 * n, vms.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
