using System.Globalization;
using System.Xml.Linq;

namespace SharpBox.Main.Settings;

/// <summary>
/// Element and attribute access for settings views. Elements are matched by local name (VirtualBox
/// ignores the namespace when reading); new elements are created in the document's namespace and
/// placed in VirtualBox's canonical order among known siblings.
/// </summary>
public static class XmlUtil
{
    public static XElement? Child(this XElement? parent, string localName)
    {
        if (parent == null)
            return null;
        foreach (XElement e in parent.Elements())
            if (e.Name.LocalName == localName)
                return e;
        return null;
    }

    public static IEnumerable<XElement> ChildrenNamed(this XElement? parent, string localName)
    {
        if (parent == null)
            yield break;
        foreach (XElement e in parent.Elements())
            if (e.Name.LocalName == localName)
                yield return e;
    }

    /// <summary>
    /// The child <paramref name="localName"/>, created when missing and inserted before the first
    /// existing sibling that comes later in <paramref name="order"/> (unknown siblings keep their place).
    /// </summary>
    public static XElement GetOrAdd(this XElement parent, string localName, IReadOnlyList<string> order)
    {
        XElement? existing = parent.Child(localName);
        if (existing != null)
            return existing;
        var created = new XElement(parent.Name.Namespace + localName);
        InsertOrdered(parent, created, order);
        return created;
    }

    public static void InsertOrdered(XElement parent, XElement child, IReadOnlyList<string> order)
    {
        int myRank = IndexOf(order, child.Name.LocalName);
        if (myRank >= 0)
        {
            foreach (XElement sibling in parent.Elements())
            {
                int rank = IndexOf(order, sibling.Name.LocalName);
                if (rank > myRank)
                {
                    sibling.AddBeforeSelf(child);
                    return;
                }
            }
        }
        parent.Add(child);
    }

    private static int IndexOf(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i] == value)
                return i;
        return -1;
    }

    /// <summary>Removes <paramref name="element"/> and then its ancestors up to (not including) <paramref name="stop"/> that became empty.</summary>
    public static void RemovePruning(XElement element, XElement stop)
    {
        XElement? parent = element.Parent;
        element.Remove();
        while (parent != null && parent != stop && !parent.HasElements && !parent.HasAttributes && string.IsNullOrEmpty(parent.Value))
        {
            XElement? up = parent.Parent;
            parent.Remove();
            parent = up;
        }
    }

    public static string? Attr(this XElement? e, string name) => e?.Attribute(name)?.Value;

    public static void SetAttr(this XElement e, string name, string? value) => e.SetAttributeValue(name, value);

    public static string FormatBool(bool value) => value ? "true" : "false";

    /// <summary>Parses a boolean as IPRT's XML layer does ("true"/"yes"/"on"/"1" and the opposites).</summary>
    public static bool TryParseBool(string text, out bool value)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "true": case "yes": case "on": case "1": value = true; return true;
            case "false": case "no": case "off": case "0": value = false; return true;
            default: value = false; return false;
        }
    }

    /// <summary>Parses an unsigned number, decimal or 0x-prefixed hexadecimal (RTStrToUInt32Ex base 0).</summary>
    public static bool TryParseUInt64(string text, out ulong value)
    {
        string t = text.Trim();
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        return ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    public static bool TryParseInt64(string text, out long value)
    {
        string t = text.Trim();
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            bool ok = ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong u);
            value = (long)u;
            return ok;
        }
        return long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Parses a UUID with or without braces.</summary>
    public static bool TryParseUuid(string text, out Guid value)
    {
        string t = text.Trim();
        if (t.Length == 38 && t[0] == '{' && t[^1] == '}')
            t = t[1..^1];
        if (t.Length == 36 && Guid.TryParseExact(t, "D", out value))
            return true;
        value = Guid.Empty;
        return false;
    }

    public static string FormatUuid(Guid id) => "{" + id.ToString("D") + "}";

    public static string FormatUInt(ulong v) => v.ToString(CultureInfo.InvariantCulture);
    public static string FormatInt(long v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Typed attribute reads that refuse malformed values with the file and line, for one document.
/// </summary>
public readonly struct AttrReader
{
    private readonly SettingsDocument _doc;
    public AttrReader(SettingsDocument doc) => _doc = doc;

    public bool Bool(XElement? e, string name, bool dflt)
    {
        string? s = e.Attr(name);
        if (s == null)
            return dflt;
        if (!XmlUtil.TryParseBool(s, out bool v))
            throw _doc.Error(e!.Attribute(name), $"Invalid value '{s}' in {e.Name.LocalName}/@{name} attribute: expected true or false");
        return v;
    }

    public uint UInt(XElement? e, string name, uint dflt)
    {
        string? s = e.Attr(name);
        if (s == null)
            return dflt;
        if (!XmlUtil.TryParseUInt64(s, out ulong v) || v > uint.MaxValue)
            throw _doc.Error(e!.Attribute(name), $"Invalid value '{s}' in {e.Name.LocalName}/@{name} attribute: expected an unsigned 32-bit number");
        return (uint)v;
    }

    public ulong ULong(XElement? e, string name, ulong dflt)
    {
        string? s = e.Attr(name);
        if (s == null)
            return dflt;
        if (!XmlUtil.TryParseUInt64(s, out ulong v))
            throw _doc.Error(e!.Attribute(name), $"Invalid value '{s}' in {e.Name.LocalName}/@{name} attribute: expected an unsigned number");
        return v;
    }

    public long Long(XElement? e, string name, long dflt)
    {
        string? s = e.Attr(name);
        if (s == null)
            return dflt;
        if (!XmlUtil.TryParseInt64(s, out long v))
            throw _doc.Error(e!.Attribute(name), $"Invalid value '{s}' in {e.Name.LocalName}/@{name} attribute: expected a number");
        return v;
    }

    public Guid Uuid(XElement e, string name, bool required)
    {
        string? s = e.Attr(name);
        if (s == null)
        {
            if (required)
                throw _doc.Error(e, $"Required {e.Name.LocalName}/@{name} attribute is missing");
            return Guid.Empty;
        }
        if (!XmlUtil.TryParseUuid(s, out Guid g))
            throw _doc.Error(e.Attribute(name), $"UUID \"{s}\" has invalid format");
        if (g == Guid.Empty && required)
            throw _doc.Error(e.Attribute(name), $"UUID \"{s}\" has zero format");
        return g;
    }

    public string Required(XElement e, string name)
        => e.Attr(name) ?? throw _doc.Error(e, $"Required {e.Name.LocalName}/@{name} attribute is missing");

    public T Enum<T>(XElement? e, string name, T dflt, IReadOnlyDictionary<string, T> map, bool ignoreCase = false)
    {
        string? s = e.Attr(name);
        if (s == null)
            return dflt;
        foreach (var kv in map)
            if (string.Equals(kv.Key, s, ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
                return kv.Value;
        throw _doc.Error(e!.Attribute(name), $"Invalid value '{s}' in {e.Name.LocalName}/@{name} attribute");
    }
}
