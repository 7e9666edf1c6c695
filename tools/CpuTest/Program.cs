namespace SharpBox.Tools.CpuTest;

/// <summary>A sub-command of sbx-cputest. Each lives in its own file; the dispatcher finds them by reflection.</summary>
public interface ICommand
{
    string Name { get; }
    string Usage { get; }
    /// <summary>Runs with the arguments after the sub-command name; returns the exit status.</summary>
    int Run(string[] args);
}

public static class Program
{
    public static int Main(string[] args)
    {
        var commands = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(ICommand).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
            .Select(t => (ICommand)Activator.CreateInstance(t)!)
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Error.WriteLine("usage: sbx-cputest <command> [args]");
            foreach (var c in commands) Console.Error.WriteLine("  " + c.Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var cmd = commands.FirstOrDefault(c => c.Name == args[0]);
        if (cmd == null)
        {
            Console.Error.WriteLine($"sbx-cputest: unknown command '{args[0]}' (known: {string.Join(", ", commands.Select(c => c.Name))})");
            return 2;
        }
        try
        {
            return cmd.Run(args[1..]);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"sbx-cputest {cmd.Name}: {e.Message}");
            Console.Error.WriteLine("usage: " + cmd.Usage);
            return 2;
        }
    }
}

/// <summary>Bad command-line or input: printed with the usage line, exit status 2.</summary>
public sealed class UsageException(string message) : Exception(message);
