using System.Collections.Concurrent;

namespace SharpBox.Storage.Tests;

public class BlockDriverTests
{
    private const int MiB = 1 << 20;

    private sealed class Completions : IBlockCompletion
    {
        public ConcurrentDictionary<long, DiskImageException?> Done { get; } = new();
        public CountdownEvent Left { get; }
        public Completions(int count) => Left = new CountdownEvent(count);
        public void OnBlockComplete(long tag, DiskImageException? error)
        {
            Done[tag] = error;
            Left.Signal();
        }
    }

    [Fact]
    public void ConcurrentWritersAndQueuedRequestsAllLand()
    {
        using var dir = new TempDir();
        string path = dir.File("b.vdi");
        const int Threads = 4, PerThread = 24, Piece = 40_000;
        long size = 8 * MiB;
        var expected = new byte[size];
        using (var driver = new DiskBlockDriver(DiskImage.Create(path, DiskFormat.Vdi, size)))
        {
            // Each thread owns every Threads-th piece, so the final contents are known.
            var failures = new ConcurrentBag<string>();
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                try
                {
                    for (int i = t; i < Threads * PerThread; i += Threads)
                    {
                        var data = Data.Random(Piece, i);
                        driver.Write((long)i * Piece, data);
                        var back = new byte[Piece];
                        driver.Read((long)i * Piece, back);
                        if (!data.AsSpan().SequenceEqual(back))
                            failures.Add($"piece {i} read back wrong");
                    }
                }
                catch (Exception e)
                {
                    failures.Add(e.ToString());
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            for (int i = 0; i < Threads * PerThread; i++)
                Data.Random(Piece, i).CopyTo(expected, (long)i * Piece);

            // Meanwhile, queued writes to the upper half, then a flush and queued reads.
            const int Queued = 16;
            var done = new Completions(Queued + 1);
            var buffers = new byte[Queued][];
            long upper = 5 * MiB;
            for (int q = 0; q < Queued; q++)
            {
                buffers[q] = Data.Random(10_000, 1000 + q);
                buffers[q].CopyTo(expected, upper + q * 10_000L);
                driver.Submit(BlockOp.Write, upper + q * 10_000L, buffers[q], done, q);
            }
            driver.Submit(BlockOp.Flush, 0, Memory<byte>.Empty, done, 99);
            threads.ForEach(t => t.Join());
            Assert.Empty(failures);
            Assert.True(done.Left.Wait(TimeSpan.FromSeconds(30)));
            Assert.All(done.Done.Values, Assert.Null);

            var reads = new Completions(1);
            var back = new byte[Queued * 10_000];
            driver.Submit(BlockOp.Read, upper, back, reads, 7);
            Assert.True(reads.Left.Wait(TimeSpan.FromSeconds(30)));
            Assert.Null(reads.Done[7]);
            Assert.Equal(expected.AsSpan((int)upper, back.Length).ToArray(), back);
        }
        using var img = DiskImage.Open(path, readOnly: true);
        Data.AssertSame(expected, Data.ReadAll(img));
        Qemu.Check(path, "vdi");
    }

    [Fact]
    public void QueuedErrorsComeBackThroughTheCompletion()
    {
        using var dir = new TempDir();
        string path = dir.File("e.vdi");
        DiskImage.Create(path, DiskFormat.Vdi, MiB).Dispose();
        using var driver = new DiskBlockDriver(DiskImage.Open(path, readOnly: true));
        var done = new Completions(2);
        driver.Submit(BlockOp.Write, 0, new byte[512], done, 1);
        driver.Submit(BlockOp.Read, MiB - 100, new byte[512], done, 2);
        Assert.True(done.Left.Wait(TimeSpan.FromSeconds(30)));
        Assert.Contains("read-only", done.Done[1]!.Message);
        Assert.Contains("outside the disk", done.Done[2]!.Message);
        Assert.Contains(path, done.Done[2]!.Message);
    }

    [Fact]
    public void DisposeDrainsTheQueueAndClosesTheImage()
    {
        using var dir = new TempDir();
        string path = dir.File("d.vdi");
        var done = new Completions(50);
        var driver = new DiskBlockDriver(DiskImage.Create(path, DiskFormat.Vdi, MiB));
        var data = Data.Random(512, 3);
        for (int i = 0; i < 50; i++)
            driver.Submit(BlockOp.Write, i * 512, data, done, i);
        driver.Dispose();
        Assert.Equal(0, done.Left.CurrentCount);
        Assert.Throws<ObjectDisposedException>(() => driver.Submit(BlockOp.Flush, 0, default, done, 0));
        using var img = DiskImage.Open(path); // the lock is gone
        var back = new byte[512];
        img.Read(49 * 512, back);
        Assert.Equal(data, back);
    }
}
