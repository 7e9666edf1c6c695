using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Tests.Em;

public sealed class ExecutionManagerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sbx-em-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static VirtualMachine NewVm(FakeEngine engine, int cpus = 1, ulong ram = 16 << 20, List<string>? log = null)
    {
        var root = CfgmNode.CreateRoot();
        root.SetInteger("RamSize", ram).SetInteger("NumCPUs", (ulong)cpus);
        return new VirtualMachine(root, new PdmDeviceRegistry(), engine.Factory, "test", new VmLog(sink: l => { if (log is not null) lock (log) log.Add(l); }));
    }

    private static async Task<VmTermination> RunWithTimeout(VirtualMachine vm, string? state = null)
        => await Task.Run(() => vm.Run(state)).WaitAsync(TimeSpan.FromSeconds(20));

    private static unsafe ulong Ram64(VirtualMachine vm, ulong gpa) => *(ulong*)vm.PhysMap.RamPointer(gpa);
    private static unsafe ulong Get(FakeCpu c, ulong gpa) => *c.Ram(gpa);
    private static unsafe void Inc(FakeCpu c, ulong gpa) => (*c.Ram(gpa))++;
    private static VcpuExit Halt => FakeCpu.Exit(VcpuExitReason.Halted);

    [Fact]
    public async Task HaltedCpuSleepsUntilAnInterruptKick()
    {
        var pic = new FakePic();
        int halts = 0;
        VirtualMachine? vmRef = null;
        var engine = new FakeEngine(c =>
        {
            if (c.Line)
            {
                c.Vectors.Add(c.Bus.AcknowledgeInterrupt(c.CpuIndex));
                Assert.False(c.Line);                                 // EM lowered the line after the acknowledge
                if (c.Vectors.Count == 3) vmRef!.RequestPowerOff("test done");
            }
            Interlocked.Increment(ref halts);
            return Halt;
        });
        using var vm = NewVm(engine);
        vmRef = vm;
        vm.Pdm.InterruptController = pic;
        var driver = Task.Run(async () =>
        {
            for (int i = 0; i < 3; i++)
            {
                await Task.Delay(50);
                int before = Volatile.Read(ref halts);
                await Task.Delay(50);
                Assert.Equal(before, Volatile.Read(ref halts));      // really asleep, not spinning
                pic.Pending = 0x30 + i;
                vm.Em.InterruptPending(0);
            }
        });
        var end = await RunWithTimeout(vm);
        await driver;
        Assert.Equal(0, end.ExitCode);
        Assert.Equal(new[] { 0x30, 0x31, 0x32 }, engine.Cpus[0].Vectors);
    }

    [Fact]
    public async Task ApplicationProcessorsWaitForSipi()
    {
        var started = new ManualResetEventSlim();
        VirtualMachine? vmRef = null;
        var engine = new FakeEngine(c =>
        {
            if (c.CpuIndex == 1) { started.Set(); vmRef!.RequestPowerOff("AP ran"); }
            else if (c.Counter++ == 0) { vmRef!.Em.Init(1); vmRef.Em.Startup(1, 0x9A); }
            return Halt;
        });
        using var vm = NewVm(engine, cpus: 2);
        vmRef = vm;
        var end = await RunWithTimeout(vm);
        Assert.True(started.IsSet);
        var ap = engine.Cpus.Single(c => c.CpuIndex == 1);
        Assert.Equal(0x9A00, ap.Ctx.Seg[Cpum.SegIdx.CS].Selector);
        Assert.Equal(0x9A000UL, ap.Ctx.Seg[Cpum.SegIdx.CS].Base);
        Assert.Equal(0UL, ap.Ctx.Rip);
        Assert.Equal(0, end.ExitCode);
    }

    [Fact]
    public async Task TripleFaultStopsTheVmWithAnErrorAndDebugExitCarriesItsCode()
    {
        var log = new List<string>();
        using (var vm = NewVm(new FakeEngine(c => FakeCpu.Exit(VcpuExitReason.Shutdown)), log: log))
        {
            var end = await RunWithTimeout(vm);
            Assert.Equal(1, end.ExitCode);
            Assert.Contains("triple fault", end.Reason);
            lock (log) Assert.Contains(log, l => l.Contains("CPU 0: rip="));
        }
        VirtualMachine? v2 = null;
        using (v2 = NewVm(new FakeEngine(c => { v2!.RequestDebugExit(7); return Halt; })))
            Assert.Equal(7, (await RunWithTimeout(v2)).ExitCode);
        VirtualMachine? v3 = null;
        using (v3 = NewVm(new FakeEngine(c => throw new InvalidOperationException("engine bug"))))
        {
            var end = await RunWithTimeout(v3);
            Assert.Equal(1, end.ExitCode);
            Assert.Contains("engine bug", end.Reason);
        }
    }

    [Fact]
    public async Task SaveMidRunAndLoadIntoANewVmContinues()
    {
        string path = Path.Combine(_dir, "state.sav");
        // The "guest" counts in RAM at 0x1000 and in its CPU state.
        Func<FakeCpu, VcpuExit> counting = c =>
        {
            while (!c.Stop)
            {
                Inc(c, 0x1000);
                c.Counter++;
                Thread.SpinWait(50);
            }
            return FakeCpu.Exit(VcpuExitReason.Stopped);
        };
        ulong savedRam, savedCounter;
        using (var vm = NewVm(new FakeEngine(counting)))
        {
            var saver = Task.Run(async () =>
            {
                await Task.Delay(200);
                return await vm.SaveStateAsync(path, stopAfter: true);
            });
            var end = await RunWithTimeout(vm);
            Assert.Null(await saver);
            Assert.Contains("state saved", end.Reason);
            savedRam = Ram64(vm, 0x1000);
            savedCounter = ((FakeEngine)vm.Em.Engine).Cpus[0].Counter;
        }
        Assert.True(savedRam > 0);
        var engine2 = new FakeEngine(c =>
        {
            // First run after the restore: the values must be where the first VM left them.
            if (c.Counter == savedCounter) c.Vectors.Add(Get(c, 0x1000) == savedRam ? 1 : 0);
            Inc(c, 0x1000);
            c.Counter++;
            return Halt;
        });
        VirtualMachine? vm2 = null;
        using (vm2 = NewVm(engine2))
        {
            var stopper = Task.Run(async () => { await Task.Delay(200); vm2.RequestPowerOff("done"); });
            var end = await RunWithTimeout(vm2, path);
            await stopper;
            Assert.Equal(0, end.ExitCode);
            Assert.Equal(new[] { 1 }, engine2.Cpus[0].Vectors);
            Assert.Equal(savedRam + 1, Ram64(vm2, 0x1000));
        }
        // A VM with a different configuration refuses the state and says why.
        using var vm3 = NewVm(new FakeEngine(c => Halt), ram: 32 << 20);
        var e = Assert.ThrowsAny<Exception>(() => vm3.Run(path));
        await Task.CompletedTask;
        Assert.Contains("RAM size", e.Message);
    }

    [Fact]
    public async Task ResetClearsRamAndRestartsTheBootCpu()
    {
        int resets = 0;
        VirtualMachine? vmRef = null;
        var engine = new FakeEngine(c =>
        {
            if (Get(c, 0x2000) != 0) { vmRef!.RequestPowerOff("RAM not cleared by reset"); return Halt; }
            Inc(c, 0x2000);
            if (Interlocked.Increment(ref resets) < 3) vmRef!.RequestReset("test");
            else vmRef!.RequestDebugExit(0);
            return Halt;
        });
        using var vm = NewVm(engine);
        vmRef = vm;
        var end = await RunWithTimeout(vm);
        Assert.Contains("debug-exit", end.Reason);
        Assert.Equal(3, resets);
        Assert.Equal(3, engine.Cpus[0].StateSets);
        Assert.True(engine.PhysicalWrites >= 2);             // the engine heard that RAM was wiped
    }

    [Fact]
    public void MoreRamThanTheHostHasIsRefusedWithAClearMessage()
    {
        ulong host = (ulong)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var e = Assert.Throws<OutOfMemoryException>(() => NewVm(new FakeEngine(c => Halt), ram: (host * 2 + (1 << 20)) & ~0xFFFFFUL));
        Assert.Contains("not enough host memory", e.Message);
        Assert.Contains("MiB", e.Message);
    }
}
