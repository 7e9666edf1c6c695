using System.Text;

namespace SharpBox.Vmm.Cfgm;

/// <summary>A configuration error: names the node path and value, so a bad setting is easy to find.</summary>
public sealed class CfgmException(string message) : Exception(message);

/// <summary>The kinds of leaf values a CFGM node holds (as VirtualBox's CFGM: integer, string, bytes).</summary>
public enum CfgmValueType { Integer, String, Bytes }

/// <summary>
/// One node of the configuration tree built in the VM process from the machine settings. Devices read
/// their settings from their own node only (e.g. /Devices/serial/0/Config), never from the XML. Values
/// are immutable once the VM is constructed; the tree is not a hot path.
/// </summary>
public sealed class CfgmNode
{
    private readonly List<CfgmNode> _children = new();
    private readonly List<(string Name, object Value)> _values = new();

    public string Name { get; }
    public CfgmNode? Parent { get; }

    private CfgmNode(string name, CfgmNode? parent) { Name = name; Parent = parent; }

    public static CfgmNode CreateRoot() => new("", null);

    public string Path => Parent is null ? "/" : (Parent.Parent is null ? "/" + Name : Parent.Path + "/" + Name);

    public IReadOnlyList<CfgmNode> Children => _children;
    public IEnumerable<string> ValueNames { get { foreach (var v in _values) yield return v.Name; } }

    private static void CheckName(string name)
    {
        if (name.Length == 0 || name.Contains('/'))
            throw new ArgumentException($"CFGM: invalid node or value name '{name}'");
    }

    public CfgmNode? GetChild(string pathRelative)
    {
        CfgmNode? node = this;
        foreach (var part in pathRelative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            CfgmNode? next = null;
            foreach (var c in node!._children) if (c.Name == part) { next = c; break; }
            if (next is null) return null;
            node = next;
        }
        return node;
    }

    /// <summary>Returns the child at the relative path, creating missing nodes.</summary>
    public CfgmNode GetOrCreateChild(string pathRelative)
    {
        var node = this;
        foreach (var part in pathRelative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = node.GetChild(part);
            if (next is null) { next = new CfgmNode(part, node); node._children.Add(next); }
            node = next;
        }
        return node;
    }

    public CfgmNode InsertNode(string name)
    {
        CheckName(name);
        if (GetChild(name) is not null) throw new CfgmException($"CFGM: node '{Path.TrimEnd('/')}/{name}' already exists");
        var n = new CfgmNode(name, this);
        _children.Add(n);
        return n;
    }

    private void Set(string name, object value)
    {
        CheckName(name);
        for (int i = 0; i < _values.Count; i++)
            if (_values[i].Name == name) { _values[i] = (name, value); return; }
        _values.Add((name, value));
    }

    public CfgmNode SetInteger(string name, ulong value) { Set(name, value); return this; }
    public CfgmNode SetInteger(string name, long value) { Set(name, unchecked((ulong)value)); return this; }
    public CfgmNode SetString(string name, string value) { Set(name, value); return this; }
    public CfgmNode SetBytes(string name, byte[] value) { Set(name, value.ToArray()); return this; }
    public CfgmNode SetBool(string name, bool value) { Set(name, value ? 1UL : 0UL); return this; }

    /// <summary>Removes a child node and its subtree (CFGMR3RemoveNode); false if there is none.</summary>
    public bool RemoveChild(string name)
    {
        for (int i = 0; i < _children.Count; i++)
            if (_children[i].Name == name) { _children.RemoveAt(i); return true; }
        return false;
    }

    public bool Remove(string name)
    {
        for (int i = 0; i < _values.Count; i++)
            if (_values[i].Name == name) { _values.RemoveAt(i); return true; }
        return false;
    }

    private object? Find(string name)
    {
        foreach (var v in _values) if (v.Name == name) return v.Value;
        return null;
    }

    public bool Has(string name) => Find(name) is not null;

    public CfgmValueType? TypeOf(string name) => Find(name) switch
    {
        ulong => CfgmValueType.Integer,
        string => CfgmValueType.String,
        byte[] => CfgmValueType.Bytes,
        _ => null,
    };

    private string Where(string name) => $"{(Parent is null ? "" : Path)}/{name}";

    public ulong GetInteger(string name) => Find(name) switch
    {
        ulong u => u,
        null => throw new CfgmException($"CFGM: {Where(name)} is missing (an integer is required)"),
        _ => throw new CfgmException($"CFGM: {Where(name)} is not an integer"),
    };

    public ulong GetInteger(string name, ulong defaultValue) => Has(name) ? GetInteger(name) : defaultValue;

    /// <summary>Reads an integer and checks it lies in [min, max], naming the value on failure.</summary>
    public ulong GetInteger(string name, ulong defaultValue, ulong min, ulong max)
    {
        ulong v = GetInteger(name, defaultValue);
        if (v < min || v > max)
            throw new CfgmException($"CFGM: {Where(name)} = {v:#,0} (0x{v:X}) is out of range [{min:#,0}, {max:#,0}]");
        return v;
    }

    public bool GetBool(string name, bool defaultValue) => GetInteger(name, defaultValue ? 1UL : 0UL, 0, 1) != 0;

    public string GetString(string name) => Find(name) switch
    {
        string s => s,
        null => throw new CfgmException($"CFGM: {Where(name)} is missing (a string is required)"),
        _ => throw new CfgmException($"CFGM: {Where(name)} is not a string"),
    };

    public string GetString(string name, string defaultValue) => Has(name) ? GetString(name) : defaultValue;

    public byte[] GetBytes(string name) => Find(name) switch
    {
        byte[] b => b.ToArray(),
        null => throw new CfgmException($"CFGM: {Where(name)} is missing (bytes are required)"),
        _ => throw new CfgmException($"CFGM: {Where(name)} is not a byte string"),
    };

    /// <summary>
    /// Fails when the node holds a value or child the reader does not know, as VirtualBox's
    /// CFGMR3ValidateConfig does: a typo in a setting must not be silently ignored.
    /// </summary>
    public void Validate(string[] knownValues, string[]? knownChildren = null)
    {
        foreach (var v in _values)
            if (Array.IndexOf(knownValues, v.Name) < 0)
                throw new CfgmException($"CFGM: unknown value {Where(v.Name)} (known: {string.Join(", ", knownValues)})");
        foreach (var c in _children)
            if (knownChildren is null || Array.IndexOf(knownChildren, c.Name) < 0)
                throw new CfgmException($"CFGM: unknown node {c.Path}");
    }

    /// <summary>Writes the tree in the indented form VirtualBox logs at VM start.</summary>
    public void Dump(StringBuilder sb, int indent = 0)
    {
        string pad = new(' ', indent * 2);
        sb.Append(pad).Append('[').Append(Path).Append("]\n");
        foreach (var (name, value) in _values)
        {
            sb.Append(pad).Append("  ").Append(name).Append(" ");
            switch (value)
            {
                case ulong u: sb.Append("<integer> = 0x").Append(u.ToString("x16")).Append(" (").Append(u).Append(')'); break;
                case string s: sb.Append("<string>  = \"").Append(s).Append('"'); break;
                case byte[] b: sb.Append("<bytes>   = ").Append(b.Length).Append(" bytes"); break;
            }
            sb.Append('\n');
        }
        foreach (var c in _children) c.Dump(sb, indent + 1);
    }

    public override string ToString() { var sb = new StringBuilder(); Dump(sb); return sb.ToString(); }
}
