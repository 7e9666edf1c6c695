namespace SharpBox.Runtime;

/// <summary>
/// Where VirtualBox keeps the per-user configuration (VirtualBox.xml) and where the user's home is,
/// by the rules of the VirtualBox manual:
/// <c>$VBOX_USER_HOME</c> if set; else the legacy <c>~/.VirtualBox</c> if it exists; else
/// <c>$XDG_CONFIG_HOME/VirtualBox</c>; else <c>~/.config/VirtualBox</c>. For root the home directory
/// comes from the account database, not <c>$HOME</c> (so a sudo'ed process does not write into the
/// invoking user's home).
/// </summary>
public static class UserHome
{
    /// <summary>Environment access, replaceable for tests.</summary>
    public interface IEnvironment
    {
        string? Get(string name);
        uint Uid { get; }
        string? HomeFromAccountDatabase(uint uid);
        bool DirectoryExists(string path);
    }

    private sealed class ProcessEnvironment : IEnvironment
    {
        public string? Get(string name) => Environment.GetEnvironmentVariable(name);
        public uint Uid => Posix.GetUid();
        public string? HomeFromAccountDatabase(uint uid) => Posix.HomeDirectoryOf(uid);
        public bool DirectoryExists(string path) => Directory.Exists(path);
    }

    public static readonly IEnvironment Process = new ProcessEnvironment();

    /// <summary>The user's home directory (see the class remarks for root).</summary>
    public static string HomeDirectory(IEnvironment env)
    {
        uint uid = env.Uid;
        if (uid != 0)
        {
            string? home = env.Get("HOME");
            if (!string.IsNullOrEmpty(home))
                return home;
        }
        return env.HomeFromAccountDatabase(uid)
            ?? throw new InvalidOperationException($"Cannot determine the home directory of user id {uid}: no entry in the account database");
    }

    /// <summary>The configuration directory, without creating it.</summary>
    public static string ConfigDirectory(IEnvironment env)
    {
        string? explicitHome = env.Get("VBOX_USER_HOME");
        if (!string.IsNullOrEmpty(explicitHome))
            return Path.GetFullPath(explicitHome);

        string home = HomeDirectory(env);
        string legacy = Path.Combine(home, ".VirtualBox");
        if (env.DirectoryExists(legacy))
            return legacy;

        string? xdg = env.Get("XDG_CONFIG_HOME");
        if (!string.IsNullOrEmpty(xdg))
            return Path.Combine(Path.GetFullPath(xdg), "VirtualBox");
        return Path.Combine(home, ".config", "VirtualBox");
    }

    /// <summary>The configuration directory of this process, created (mode 0700) when missing.</summary>
    public static string EnsureConfigDirectory()
    {
        string dir = ConfigDirectory(Process);
        if (!Directory.Exists(dir))
        {
            try
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"Cannot create the configuration directory '{dir}': {e.Message}", e);
            }
        }
        return dir;
    }
}
