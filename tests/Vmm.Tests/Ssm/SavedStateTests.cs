using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Tests.Ssm;

public sealed class SavedStateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sbx-ssm-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private sealed class Unit(string name, uint version) : ISsmUnit
    {
        public string Name => name;
        public int Instance => 0;
        public uint Version => version;
        public ulong A; public string S = ""; public byte[] Blob = [];
        public uint LoadedVersion;
        public void Save(SsmWriter w) { w.PutU64(A); w.PutString(S); w.PutBlob(Blob); }
        public void Load(SsmReader r, uint v) { LoadedVersion = v; A = r.GetU64(); S = r.GetString(); Blob = r.GetBlob(1 << 20); }
    }

    private (SavedStateManager, Unit, Unit) Make(uint v2 = 2)
    {
        var m = new SavedStateManager();
        var a = new Unit("alpha", 1);
        var b = new Unit("beta", v2);
        m.Register(a);
        m.Register(b);
        return (m, a, b);
    }

    [Fact]
    public void RoundTripRestoresEveryUnit()
    {
        var (m, a, b) = Make();
        a.A = 42; a.S = "héllo"; a.Blob = [1, 2, 3];
        b.A = ulong.MaxValue; b.Blob = new byte[100_000];
        b.Blob[99_999] = 7;
        string path = Path.Combine(_dir, "vm.sav");
        m.Save(path);
        var (m2, a2, b2) = Make();
        m2.Load(path);
        Assert.Equal(42UL, a2.A);
        Assert.Equal("héllo", a2.S);
        Assert.Equal(new byte[] { 1, 2, 3 }, a2.Blob);
        Assert.Equal(ulong.MaxValue, b2.A);
        Assert.Equal(7, b2.Blob[99_999]);
        Assert.Equal(2u, b2.LoadedVersion);
        Assert.Equal(2, SavedStateManager.Verify(path).Count);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void CorruptionTruncationAndMismatchesAreRefusedBeforeLoading()
    {
        var (m, a, _) = Make();
        a.A = 1;
        string path = Path.Combine(_dir, "vm.sav");
        m.Save(path);
        var bytes = File.ReadAllBytes(path);

        var bad = (byte[])bytes.Clone();
        bad[40] ^= 0xFF;
        File.WriteAllBytes(path, bad);
        var (m2, a2, _) = Make();
        var e = Assert.Throws<SsmException>(() => m2.Load(path));
        Assert.Contains("CRC", e.Message);
        Assert.Equal(0UL, a2.A);                  // nothing was loaded

        File.WriteAllBytes(path, bytes[..(bytes.Length - 5)]);
        Assert.Contains("truncated", Assert.Throws<SsmException>(() => Make().Item1.Load(path)).Message);

        File.WriteAllBytes(path, bytes);
        var other = new SavedStateManager();
        other.Register(new Unit("alpha", 1));
        other.Register(new Unit("gamma", 1));
        Assert.Contains("no unit 'gamma'", Assert.Throws<SsmException>(() => other.Load(path)).Message);

        var older = new SavedStateManager();
        older.Register(new Unit("alpha", 1));
        older.Register(new Unit("beta", 1));
        Assert.Contains("newer", Assert.Throws<SsmException>(() => older.Load(path)).Message);

        File.WriteAllBytes(path, "not a state"u8.ToArray());
        Assert.Contains("bad magic", Assert.Throws<SsmException>(() => Make().Item1.Load(path)).Message);
        Assert.Contains("cannot open", Assert.Throws<SsmException>(() => Make().Item1.Load(Path.Combine(_dir, "none"))).Message);
    }

    [Fact]
    public void SaveKeepsThePreviousFileAndUnitsReadOnlyTheirData()
    {
        var (m, a, _) = Make();
        string path = Path.Combine(_dir, "vm.sav");
        a.A = 1; m.Save(path);
        a.A = 2; m.Save(path);
        Assert.True(File.Exists(path + "-prev"));
        var (m2, a2, _) = Make();
        m2.Load(path + "-prev");
        Assert.Equal(1UL, a2.A);

        var greedy = new SavedStateManager();
        greedy.Register(new SsmUnit("alpha", 0, 1, w => { }, (r, v) => r.GetU64()));
        greedy.Register(new SsmUnit("beta", 0, 2, w => { }, (r, v) => { }));
        var e = Assert.Throws<SsmException>(() => greedy.Load(path));
        Assert.Contains("not consumed", e.Message);
        var starved = new SavedStateManager();
        starved.Register(new SsmUnit("alpha", 0, 1, w => { }, (r, v) => { r.GetBytes(new byte[1000]); }));
        starved.Register(new SsmUnit("beta", 0, 2, w => { }, (r, v) => { }));
        Assert.Contains("ends early", Assert.Throws<SsmException>(() => starved.Load(path)).Message);
    }
}
