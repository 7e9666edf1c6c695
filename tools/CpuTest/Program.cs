namespace SharpBox.Tools.CpuTest;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("usage: sbx-cputest moo FILE... | diff --seed S --count N [--mode 64|32] | decode");
        return 2;
    }
}
