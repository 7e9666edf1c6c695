using System.Globalization;
using System.Text;

namespace SharpBox.Main.Remote;

/// <summary>
/// A small JSON tree for the VBoxSVC protocol (RFC 8259: objects, arrays, strings with every escape,
/// numbers, true/false/null). Kept here instead of System.Text.Json because every VBoxManage run
/// pays for what it loads: this parser and <see cref="JsonWriter"/> start in microseconds.
/// </summary>
public abstract class JNode
{
    public static readonly JNode Null = new JLiteral("null");

    public virtual JNode? this[string key] => null;

    public bool IsNull => ReferenceEquals(this, Null);

    /// <summary>The member <paramref name="key"/> of an object; throws FormatException when absent.</summary>
    public JNode Get(string key) => this[key] ?? throw new FormatException($"missing \"{key}\" in a protocol message");

    public virtual string GetString() => throw new FormatException($"expected a string, found {Describe()}");
    public virtual bool GetBool() => throw new FormatException($"expected true or false, found {Describe()}");
    public virtual long GetInt64() => throw new FormatException($"expected a number, found {Describe()}");
    public virtual ulong GetUInt64() => throw new FormatException($"expected a number, found {Describe()}");
    public virtual double GetDouble() => throw new FormatException($"expected a number, found {Describe()}");
    public virtual IReadOnlyList<JNode> Items => throw new FormatException($"expected an array, found {Describe()}");
    public int GetInt32() => checked((int)GetInt64());
    public uint GetUInt32() => checked((uint)GetUInt64());
    public byte[] GetBytesFromBase64() => Convert.FromBase64String(GetString());

    protected abstract string Describe();

    /// <summary>Parses one JSON value filling the whole input.</summary>
    public static JNode Parse(ReadOnlySpan<byte> utf8)
    {
        var p = new Parser(utf8);
        JNode v = p.Value(0);
        p.SkipSpace();
        if (p.Pos != utf8.Length)
            throw new FormatException($"unexpected data after the JSON value at byte {p.Pos}");
        return v;
    }

    private ref struct Parser
    {
        private readonly ReadOnlySpan<byte> _s;
        public int Pos;

        public Parser(ReadOnlySpan<byte> s)
        {
            _s = s;
            Pos = 0;
        }

        private FormatException Bad(string what) => new($"invalid JSON at byte {Pos}: {what}");

        public void SkipSpace()
        {
            while (Pos < _s.Length && _s[Pos] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
                Pos++;
        }

        public JNode Value(int depth)
        {
            if (depth > 64)
                throw Bad("nested too deeply");
            SkipSpace();
            if (Pos >= _s.Length)
                throw Bad("unexpected end");
            switch (_s[Pos])
            {
                case (byte)'{':
                    {
                        Pos++;
                        var members = new List<KeyValuePair<string, JNode>>();
                        SkipSpace();
                        if (Pos < _s.Length && _s[Pos] == '}')
                        {
                            Pos++;
                            return new JObject(members);
                        }
                        while (true)
                        {
                            SkipSpace();
                            if (Pos >= _s.Length || _s[Pos] != '"')
                                throw Bad("expected a member name");
                            string key = String();
                            SkipSpace();
                            if (Pos >= _s.Length || _s[Pos] != ':')
                                throw Bad("expected ':'");
                            Pos++;
                            members.Add(new(key, Value(depth + 1)));
                            SkipSpace();
                            if (Pos < _s.Length && _s[Pos] == ',') { Pos++; continue; }
                            if (Pos < _s.Length && _s[Pos] == '}') { Pos++; return new JObject(members); }
                            throw Bad("expected ',' or '}'");
                        }
                    }
                case (byte)'[':
                    {
                        Pos++;
                        var items = new List<JNode>();
                        SkipSpace();
                        if (Pos < _s.Length && _s[Pos] == ']')
                        {
                            Pos++;
                            return new JArray(items);
                        }
                        while (true)
                        {
                            items.Add(Value(depth + 1));
                            SkipSpace();
                            if (Pos < _s.Length && _s[Pos] == ',') { Pos++; continue; }
                            if (Pos < _s.Length && _s[Pos] == ']') { Pos++; return new JArray(items); }
                            throw Bad("expected ',' or ']'");
                        }
                    }
                case (byte)'"':
                    return new JString(String());
                case (byte)'t': Literal("true"); return JLiteral.True;
                case (byte)'f': Literal("false"); return JLiteral.False;
                case (byte)'n': Literal("null"); return Null;
                default:
                    return Number();
            }
        }

        private void Literal(string word)
        {
            for (int i = 0; i < word.Length; i++)
                if (Pos + i >= _s.Length || _s[Pos + i] != word[i])
                    throw Bad($"expected '{word}'");
            Pos += word.Length;
        }

        private JNode Number()
        {
            int start = Pos;
            if (Pos < _s.Length && _s[Pos] == '-')
                Pos++;
            while (Pos < _s.Length && (_s[Pos] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-'))
                Pos++;
            if (Pos == start || (Pos == start + 1 && _s[start] == '-'))
                throw Bad("expected a value");
            return new JNumber(Encoding.ASCII.GetString(_s[start..Pos]));
        }

        private string String()
        {
            Pos++; // opening quote
            int start = Pos;
            // Fast path: no escapes.
            while (Pos < _s.Length && _s[Pos] != '"' && _s[Pos] != '\\')
            {
                if (_s[Pos] < 0x20)
                    throw Bad("control character in a string");
                Pos++;
            }
            if (Pos < _s.Length && _s[Pos] == '"')
            {
                string fast = Encoding.UTF8.GetString(_s[start..Pos]);
                Pos++;
                return fast;
            }
            var sb = new StringBuilder(Encoding.UTF8.GetString(_s[start..Pos]));
            while (true)
            {
                if (Pos >= _s.Length)
                    throw Bad("unterminated string");
                byte b = _s[Pos];
                if (b == '"')
                {
                    Pos++;
                    return sb.ToString();
                }
                if (b == '\\')
                {
                    if (Pos + 1 >= _s.Length)
                        throw Bad("unterminated escape");
                    byte e = _s[Pos + 1];
                    Pos += 2;
                    switch (e)
                    {
                        case (byte)'"': sb.Append('"'); break;
                        case (byte)'\\': sb.Append('\\'); break;
                        case (byte)'/': sb.Append('/'); break;
                        case (byte)'b': sb.Append('\b'); break;
                        case (byte)'f': sb.Append('\f'); break;
                        case (byte)'n': sb.Append('\n'); break;
                        case (byte)'r': sb.Append('\r'); break;
                        case (byte)'t': sb.Append('\t'); break;
                        case (byte)'u':
                            if (Pos + 4 > _s.Length || !ushort.TryParse(Encoding.ASCII.GetString(_s.Slice(Pos, 4)), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort u))
                                throw Bad("invalid \\u escape");
                            sb.Append((char)u);
                            Pos += 4;
                            break;
                        default:
                            throw Bad($"invalid escape '\\{(char)e}'");
                    }
                    continue;
                }
                if (b < 0x20)
                    throw Bad("control character in a string");
                int runStart = Pos;
                while (Pos < _s.Length && _s[Pos] != '"' && _s[Pos] != '\\' && _s[Pos] >= 0x20)
                    Pos++;
                sb.Append(Encoding.UTF8.GetString(_s[runStart..Pos]));
            }
        }
    }
}

internal sealed class JObject : JNode
{
    private readonly List<KeyValuePair<string, JNode>> _members;
    public JObject(List<KeyValuePair<string, JNode>> members) => _members = members;

    public override JNode? this[string key]
    {
        get
        {
            foreach (var kv in _members)
                if (kv.Key == key)
                    return kv.Value;
            return null;
        }
    }

    protected override string Describe() => "an object";
}

internal sealed class JArray : JNode
{
    private readonly List<JNode> _items;
    public JArray(List<JNode> items) => _items = items;
    public override IReadOnlyList<JNode> Items => _items;
    protected override string Describe() => "an array";
}

internal sealed class JString : JNode
{
    private readonly string _value;
    public JString(string value) => _value = value;
    public override string GetString() => _value;
    protected override string Describe() => "a string";
}

internal sealed class JNumber : JNode
{
    private readonly string _text;
    public JNumber(string text) => _text = text;
    public override long GetInt64() => long.TryParse(_text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v : throw new FormatException($"'{_text}' is not an integer");
    public override ulong GetUInt64() => ulong.TryParse(_text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v : throw new FormatException($"'{_text}' is not an unsigned integer");
    public override double GetDouble() => double.TryParse(_text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw new FormatException($"'{_text}' is not a number");
    protected override string Describe() => "a number";
}

internal sealed class JLiteral : JNode
{
    public static readonly JLiteral True = new("true");
    public static readonly JLiteral False = new("false");
    private readonly string _word;
    public JLiteral(string word) => _word = word;
    public override bool GetBool() => _word == "true" ? true : _word == "false" ? false : base.GetBool();
    protected override string Describe() => _word;
}

/// <summary>Writes compact JSON (UTF-8) into a growing buffer; commas are placed automatically.</summary>
public sealed class JsonWriter
{
    private byte[] _buf = new byte[256];
    private int _len;
    private bool _needComma;

    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, _len);

    private void Ensure(int n)
    {
        if (_len + n <= _buf.Length)
            return;
        Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
    }

    private void Raw(byte b)
    {
        Ensure(1);
        _buf[_len++] = b;
    }

    private void Raw(string ascii)
    {
        Ensure(ascii.Length);
        foreach (char c in ascii)
            _buf[_len++] = (byte)c;
    }

    private void Comma()
    {
        if (_needComma)
            Raw((byte)',');
        _needComma = true;
    }

    public void StartObject() { Comma(); Raw((byte)'{'); _needComma = false; }
    public void EndObject() { Raw((byte)'}'); _needComma = true; }
    public void StartArray() { Comma(); Raw((byte)'['); _needComma = false; }
    public void EndArray() { Raw((byte)']'); _needComma = true; }

    public void Name(string name)
    {
        Comma();
        Quoted(name);
        Raw((byte)':');
        _needComma = false;
    }

    public void Null() { Comma(); Raw("null"); }
    public void Bool(bool v) { Comma(); Raw(v ? "true" : "false"); }
    public void Number(long v) { Comma(); Raw(v.ToString(CultureInfo.InvariantCulture)); }
    public void Number(ulong v) { Comma(); Raw(v.ToString(CultureInfo.InvariantCulture)); }
    public void Number(double v) { Comma(); Raw(v.ToString("R", CultureInfo.InvariantCulture)); }
    public void String(string v) { Comma(); Quoted(v); }
    public void Base64(byte[] v) { Comma(); Raw((byte)'"'); Raw(Convert.ToBase64String(v)); Raw((byte)'"'); }

    public void String(string name, string value) { Name(name); String(value); }
    public void Number(string name, long value) { Name(name); Number(value); }

    private void Quoted(string s)
    {
        Raw((byte)'"');
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c >= 0x20 && c != '"' && c != '\\')
                continue;
            Utf8(s.AsSpan(start, i - start));
            switch (c)
            {
                case '"': Raw("\\\""); break;
                case '\\': Raw("\\\\"); break;
                case '\n': Raw("\\n"); break;
                case '\r': Raw("\\r"); break;
                case '\t': Raw("\\t"); break;
                default: Raw("\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
            }
            start = i + 1;
        }
        Utf8(s.AsSpan(start));
        Raw((byte)'"');
    }

    private void Utf8(ReadOnlySpan<char> chars)
    {
        if (chars.IsEmpty)
            return;
        Ensure(Encoding.UTF8.GetMaxByteCount(chars.Length));
        _len += Encoding.UTF8.GetBytes(chars, _buf.AsSpan(_len));
    }
}
