namespace VBoxManage;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 1 && (args[0] == "--version" || args[0] == "-v"))
        {
            Console.WriteLine("7.1.0r0");
            return 0;
        }
        Console.Error.WriteLine("VBoxManage: error: not implemented yet");
        return 1;
    }
}
