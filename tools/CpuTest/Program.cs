using SharpBox.Tools.CpuTest.Diff;

namespace SharpBox.Tools.CpuTest;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "diff") return DiffCommand.Run(args[1..]);
        Console.Error.WriteLine("usage: sbx-cputest moo FILE... | diff --seed S --count N [--mode 64|32] | decode");
        return 2;
    }
}
