using System.Globalization;

namespace SharpBox.Main.Settings;

/// <summary>
/// A settings file format version ("1.19-linux" → 1.19). VirtualBox 3.1 wrote 1.9, 4.0 wrote 1.11,
/// 5.0 1.15, 5.1 1.16, 6.0 1.17, 6.1 1.18, 7.0 1.19, 7.1 1.20.
/// </summary>
public readonly record struct SettingsVersion(int Major, int Minor) : IComparable<SettingsVersion>
{
    public static readonly SettingsVersion V1_7 = new(1, 7);
    public static readonly SettingsVersion V1_9 = new(1, 9);
    public static readonly SettingsVersion V1_10 = new(1, 10);
    public static readonly SettingsVersion V1_11 = new(1, 11);
    public static readonly SettingsVersion V1_12 = new(1, 12);
    public static readonly SettingsVersion V1_13 = new(1, 13);
    public static readonly SettingsVersion V1_14 = new(1, 14);
    public static readonly SettingsVersion V1_15 = new(1, 15);
    public static readonly SettingsVersion V1_16 = new(1, 16);
    public static readonly SettingsVersion V1_17 = new(1, 17);
    public static readonly SettingsVersion V1_18 = new(1, 18);
    public static readonly SettingsVersion V1_19 = new(1, 19);
    public static readonly SettingsVersion V1_20 = new(1, 20);

    /// <summary>Oldest version we read: VirtualBox 3.1 (storage controllers hold DVD and floppy drives since 1.9).</summary>
    public static readonly SettingsVersion OldestSupported = V1_9;
    /// <summary>Newest version we read and write (VirtualBox 7.1).</summary>
    public static readonly SettingsVersion NewestSupported = V1_20;
    /// <summary>Version of new files, as VirtualBox 7.0 writes them.</summary>
    public static readonly SettingsVersion Current = V1_19;

    /// <summary>The platform suffix VirtualBox writes on Linux hosts.</summary>
    public const string LinuxPlatform = "linux";

    public int CompareTo(SettingsVersion other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);
    public static bool operator <(SettingsVersion a, SettingsVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(SettingsVersion a, SettingsVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(SettingsVersion a, SettingsVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(SettingsVersion a, SettingsVersion b) => a.CompareTo(b) >= 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Major}.{Minor}");

    /// <summary>
    /// Parses "major.minor[-platform]". Returns false for anything else (the caller reports the file
    /// and line).
    /// </summary>
    public static bool TryParse(string text, out SettingsVersion version, out string platform)
    {
        version = default;
        platform = "";
        int dash = text.IndexOf('-');
        string numbers = dash >= 0 ? text[..dash] : text;
        if (dash >= 0)
            platform = text[(dash + 1)..];
        int dot = numbers.IndexOf('.');
        if (dot <= 0 || dot == numbers.Length - 1)
            return false;
        if (!int.TryParse(numbers[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out int major)
            || !int.TryParse(numbers[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int minor))
            return false;
        version = new SettingsVersion(major, minor);
        return true;
    }
}
