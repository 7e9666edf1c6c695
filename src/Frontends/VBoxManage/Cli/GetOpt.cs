using System.Globalization;

namespace VBoxManage.Cli;

/// <summary>What an option takes.</summary>
internal enum ArgKind { None, String, UInt32, UInt64, Int64, BoolOnOff, Uuid }

/// <summary>
/// One option: its names ("--nic-type" plus old spellings such as "--nictype"), what it takes, and
/// whether it carries a slot index glued to the name ("--nic-type1"), as IPRT's getopt does.
/// </summary>
internal sealed record OptDef(string[] Names, ArgKind Kind, bool Indexed = false, int Id = 0)
{
    public string Primary => Names[0];
    public OptDef(string name, ArgKind kind, bool indexed = false, int id = 0) : this(new[] { name }, kind, indexed, id) { }
}

/// <summary>One parsed item: an option with its value and index, or a non-option argument (Def is null).</summary>
internal readonly record struct OptItem(OptDef? Def, string Value, uint Index, string Raw)
{
    public bool IsOption => Def != null;
    public bool Bool => Value == "on";
    public uint UInt32 => uint.Parse(Value, CultureInfo.InvariantCulture);
    public ulong UInt64 => ulong.Parse(Value, CultureInfo.InvariantCulture);
    public long Int64 => long.Parse(Value, CultureInfo.InvariantCulture);
}

/// <summary>A command-line syntax problem; VBoxManage reports it with exit code 2.</summary>
internal sealed class SyntaxException : Exception
{
    public bool ShowUsage { get; }
    public SyntaxException(string message, bool showUsage = false) : base(message) => ShowUsage = showUsage;
}

/// <summary>
/// A getopt in the style of IPRT's RTGetOpt: long options with "--opt value" or "--opt=value",
/// indexed options, non-option arguments in any position, "--" ending option parsing, and values
/// checked against the option's kind (numbers accept 0x hexadecimal, booleans are on/off).
/// </summary>
internal sealed class GetOpt
{
    private readonly IReadOnlyList<string> _args;
    private readonly List<OptDef> _defs;
    private int _pos;
    private bool _onlyPositional;

    public GetOpt(IReadOnlyList<string> args, IEnumerable<OptDef> defs, int start = 0)
    {
        _args = args;
        // Longest names first so "--nic-type1" is not taken for "--nic" + "-type1".
        _defs = defs.OrderByDescending(d => d.Names.Max(n => n.Length)).ToList();
        _pos = start;
    }

    public bool AtEnd => _pos >= _args.Count;

    public bool Next(out OptItem item)
    {
        item = default;
        if (_pos >= _args.Count)
            return false;
        string raw = _args[_pos++];
        if (!_onlyPositional && raw.Length > 0 && raw[0] != '-')
        {
            // Bare-word options ("disk", "dvd", "floppy", the old "compact") match exactly.
            foreach (OptDef def in _defs)
                if (!def.Indexed && Array.IndexOf(def.Names, raw) >= 0)
                {
                    if (def.Kind == ArgKind.None)
                        item = new OptItem(def, "", 0, raw);
                    else
                        item = new OptItem(def, Normalize(def, raw, _pos < _args.Count ? _args[_pos++] : throw new SyntaxException($"{raw}: The required option argument is missing")), 0, raw);
                    return true;
                }
        }
        if (_onlyPositional || raw.Length < 2 || raw[0] != '-' || IsNegativeNumber(raw))
        {
            item = new OptItem(null, raw, 0, raw);
            return true;
        }
        if (raw == "--")
        {
            _onlyPositional = true;
            return Next(out item);
        }

        string name = raw;
        string? inlineValue = null;
        int eq = raw.IndexOf('=');
        if (eq > 0)
        {
            name = raw[..eq];
            inlineValue = raw[(eq + 1)..];
        }

        foreach (OptDef def in _defs)
            foreach (string n in def.Names)
            {
                uint index = 0;
                if (def.Indexed)
                {
                    if (!name.StartsWith(n, StringComparison.Ordinal) || name.Length == n.Length)
                        continue;
                    string digits = name[n.Length..];
                    if (!digits.All(char.IsAsciiDigit) || !uint.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out index))
                        continue;
                }
                else if (name != n)
                    continue;

                if (def.Kind == ArgKind.None)
                {
                    if (inlineValue != null)
                        throw new SyntaxException($"Invalid argument format: {raw} (the option takes no value)");
                    item = new OptItem(def, "", index, raw);
                    return true;
                }
                string value = inlineValue ?? (_pos < _args.Count ? _args[_pos++] : throw new SyntaxException($"{name}: The required option argument is missing"));
                item = new OptItem(def, Normalize(def, name, value), index, raw);
                return true;
            }
        throw new SyntaxException($"Unknown option: {raw}", showUsage: true);
    }

    /// <summary>The next raw argument, for options that take more than one value ("--uart1 0x3f8 4").</summary>
    public string FetchValue(string option, int valueNumber)
    {
        if (_pos >= _args.Count)
            throw new SyntaxException($"Missing the {valueNumber}{Ordinal(valueNumber)} value for option {option}");
        return _args[_pos++];
    }

    /// <summary>Whether the next argument exists and is not an option (for optional extra values).</summary>
    public bool PeekValue(out string value)
    {
        value = _pos < _args.Count ? _args[_pos] : "";
        return _pos < _args.Count && !(value.StartsWith('-') && value.Length > 1 && !IsNegativeNumber(value));
    }

    private static string Ordinal(int n) => n switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" };

    private static bool IsNegativeNumber(string s) => s.Length > 1 && s[0] == '-' && char.IsAsciiDigit(s[1]);

    private static string Normalize(OptDef def, string name, string value)
    {
        switch (def.Kind)
        {
            case ArgKind.UInt32:
            case ArgKind.UInt64:
                if (!TryParseUnsigned(value, out ulong u) || (def.Kind == ArgKind.UInt32 && u > uint.MaxValue))
                    throw new SyntaxException($"Invalid argument format: {name} '{value}' (expected an unsigned {(def.Kind == ArgKind.UInt32 ? "32" : "64")}-bit number)");
                return u.ToString(CultureInfo.InvariantCulture);
            case ArgKind.Int64:
                if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
                    throw new SyntaxException($"Invalid argument format: {name} '{value}' (expected a number)");
                return l.ToString(CultureInfo.InvariantCulture);
            case ArgKind.BoolOnOff:
                return value switch
                {
                    "on" => "on",
                    "off" => "off",
                    _ => throw new SyntaxException($"Invalid argument format: {name} '{value}' (expected on or off)"),
                };
            case ArgKind.Uuid:
                string t = value.Trim('{', '}');
                if (!Guid.TryParseExact(t, "D", out _))
                    throw new SyntaxException($"Invalid argument format: {name} '{value}' (expected a UUID)");
                return t;
            default:
                return value;
        }
    }

    public static bool TryParseUnsigned(string value, out ulong result)
    {
        string v = value.Trim();
        if (v.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(v.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out result);
        return ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out result);
    }
}
