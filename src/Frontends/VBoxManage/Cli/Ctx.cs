using SharpBox.Main.Api;

namespace VBoxManage.Cli;

/// <summary>Exit codes as VBoxManage uses them (RTEXITCODE).</summary>
internal static class Exit
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Syntax = 2;
}

/// <summary>
/// What a command handler gets: its arguments, the API (created on first use, so commands that do
/// not need it never touch the configuration), the output streams and VBoxManage's error conventions.
/// </summary>
internal sealed class Ctx
{
    private readonly Func<IVirtualBox> _factory;
    private IVirtualBox? _vbox;

    public IReadOnlyList<string> Args { get; }
    public CommandDef Command { get; }
    public TextWriter Out { get; }
    public TextWriter Err { get; }
    public bool DetailedProgress { get; init; }

    public Ctx(CommandDef command, IReadOnlyList<string> args, Func<IVirtualBox> factory, TextWriter output, TextWriter error)
    {
        Command = command;
        Args = args;
        _factory = factory;
        Out = output;
        Err = error;
    }

    public IVirtualBox VBox => _vbox ??= _factory();

    /// <summary>"VBoxManage: error: MESSAGE", one prefix per line.</summary>
    public void PrintError(string message)
    {
        foreach (string line in message.Split('\n'))
            Err.WriteLine($"VBoxManage: error: {line}");
    }

    /// <summary>A syntax error: the message, then the command's usage; exit code 2.</summary>
    public int SyntaxError(string message)
    {
        PrintError(message);
        Err.WriteLine();
        int lines = Help.PrintUsage(Command.HelpTopic, Err);
        if (lines >= 16)
        {
            // Long usage: repeat the message so it is not scrolled away (as VBoxManage does).
            Err.WriteLine();
            PrintError(message);
        }
        return Exit.Syntax;
    }

    /// <summary>An invalid argument value: just the message; exit code 2.</summary>
    public int ArgumentError(string message)
    {
        PrintError(message);
        return Exit.Syntax;
    }

    /// <summary>A failure that is not an API error; exit code 1.</summary>
    public int Failure(string message)
    {
        PrintError(message);
        return Exit.Failure;
    }

    /// <summary>An API error with VBoxManage's Details and Context lines; exit code 1.</summary>
    public int ApiError(VBoxException e, string? context)
    {
        PrintApiError(e.Info, context);
        return Exit.Failure;
    }

    public void PrintApiError(VBoxErrorInfo info, string? context)
    {
        PrintError(info.Message);
        Err.WriteLine($"VBoxManage: error: Details: code {ResultCode.Name(info.ResultCode)} (0x{info.ResultCode:x8}), component {info.Component}, interface {info.Interface}, callee nsISupports");
        if (context != null)
            Err.WriteLine($"VBoxManage: error: Context: \"{context}\"");
    }

    /// <summary>
    /// Prints progress as VBoxManage does on stderr ("0%...10%...100%") until the operation completes.
    /// Returns the operation's result code.
    /// </summary>
    public int ShowProgress(IProgress progress)
    {
        Err.Write("0%...");
        Err.Flush();
        uint last = 0;
        while (true)
        {
            uint pct = progress.Percent;
            bool done = progress.Completed;
            if (pct / 10 > last / 10)
            {
                for (uint v = last / 10 * 10 + 10; v <= pct / 10 * 10; v += 10)
                    if (v < 100)
                        Err.Write($"{v}%...");
                Err.Flush();
                last = pct / 10 * 10;
            }
            if (done)
                break;
            progress.WaitForCompletion(100);
        }
        int rc = progress.ResultCode;
        Err.WriteLine(rc == ResultCode.S_OK ? "100%" : ResultCode.Name(rc));
        Err.Flush();
        return rc;
    }

    /// <summary>Runs a long operation with progress; on failure prints "what" and the error. Returns true on success.</summary>
    public bool RunProgress(IProgress progress, string failureMessage)
    {
        if (ShowProgress(progress) == ResultCode.S_OK)
            return true;
        PrintError(failureMessage);
        if (progress.ErrorInfo is VBoxErrorInfo info)
            PrintApiError(info, null);
        return false;
    }
}
