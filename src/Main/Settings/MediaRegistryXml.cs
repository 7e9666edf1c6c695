using System.Xml.Linq;
using SharpBox.Main.Api;

namespace SharpBox.Main.Settings;

/// <summary>One medium of a &lt;MediaRegistry&gt; (a hard disk with its differencing children, or a DVD/floppy image).</summary>
public sealed class MediumEntry
{
    public Guid Id { get; init; }
    /// <summary>Absolute location (relative locations are resolved against the registry file's folder).</summary>
    public required string Location { get; set; }
    public required string Format { get; set; }
    public DeviceType DeviceType { get; init; }
    public MediumType Type { get; set; }
    public bool AutoReset { get; set; }
    public string Description { get; set; } = "";
    public Dictionary<string, string> Properties { get; } = new(StringComparer.Ordinal);
    public List<MediumEntry> Children { get; } = new();
    public MediumEntry? Parent { get; set; }
}

/// <summary>Reads and edits the &lt;MediaRegistry&gt; element of VirtualBox.xml or of a .vbox file.</summary>
public sealed class MediaRegistryXml
{
    private static readonly string[] RegistryOrder = { "HardDisks", "DVDImages", "FloppyImages" };

    private static readonly Dictionary<string, MediumType> MediumTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Normal"] = MediumType.Normal, ["Immutable"] = MediumType.Immutable, ["Writethrough"] = MediumType.Writethrough,
        ["Shareable"] = MediumType.Shareable, ["Readonly"] = MediumType.Readonly, ["MultiAttach"] = MediumType.MultiAttach,
    };

    /// <summary>Maximum nesting of differencing images, as VirtualBox limits it.</summary>
    public const int MaxDepth = 300;

    private readonly SettingsDocument _doc;
    private readonly XElement _owner;
    private readonly Func<XElement> _createRegistry;

    public MediaRegistryXml(SettingsDocument doc, XElement owner, Func<XElement> createRegistry)
    {
        _doc = doc;
        _owner = owner;
        _createRegistry = createRegistry;
    }

    private XElement? Registry => _owner.Child("MediaRegistry");
    private string BaseDirectory => Path.GetDirectoryName(_doc.FilePath) ?? "/";

    public static string TypeName(MediumType t) => t switch
    {
        MediumType.Normal => "Normal",
        MediumType.Immutable => "Immutable",
        MediumType.Writethrough => "Writethrough",
        MediumType.Shareable => "Shareable",
        MediumType.Readonly => "Readonly",
        MediumType.MultiAttach => "MultiAttach",
        _ => "Normal",
    };

    /// <summary>All media of the registry, hard disks as trees.</summary>
    public List<MediumEntry> ReadAll()
    {
        var result = new List<MediumEntry>();
        XElement? reg = Registry;
        if (reg == null)
            return result;
        foreach (XElement disk in reg.Child("HardDisks").ChildrenNamed("HardDisk"))
            result.Add(ReadOne(disk, DeviceType.HardDisk, null, 1));
        foreach (XElement img in reg.Child("DVDImages").ChildrenNamed("Image"))
            result.Add(ReadOne(img, DeviceType.DVD, null, 1));
        foreach (XElement img in reg.Child("FloppyImages").ChildrenNamed("Image"))
            result.Add(ReadOne(img, DeviceType.Floppy, null, 1));
        return result;
    }

    private MediumEntry ReadOne(XElement e, DeviceType type, MediumEntry? parent, int depth)
    {
        if (depth > MaxDepth)
            throw _doc.Error(e, $"Maximum medium tree depth of {MaxDepth} exceeded");
        var r = new AttrReader(_doc);
        Guid id = r.Uuid(e, "uuid", required: true);
        string location = r.Required(e, "location");
        string? format = e.Attr("format");
        if (type == DeviceType.HardDisk && format == null)
            throw _doc.Error(e, $"Required {e.Name.LocalName}/@format attribute is missing");
        MediumType mtype = type switch
        {
            DeviceType.DVD => MediumType.Readonly,
            DeviceType.Floppy => MediumType.Writethrough,
            _ => parent?.Type ?? MediumType.Normal,
        };
        if (e.Attr("type") != null)
            mtype = r.Enum(e, "type", mtype, MediumTypes, ignoreCase: true);
        var entry = new MediumEntry
        {
            Id = id,
            Location = ResolveLocation(location),
            Format = format ?? "RAW",
            DeviceType = type,
            Type = mtype,
            AutoReset = r.Bool(e, "autoReset", false),
            Parent = parent,
        };
        entry.Description = e.Attr("Description") ?? e.Child("Description")?.Value ?? "";
        foreach (XElement p in e.ChildrenNamed("Property"))
        {
            string name = r.Required(p, "name");
            entry.Properties[name] = r.Required(p, "value");
        }
        if (type == DeviceType.HardDisk)
            foreach (XElement child in e.ChildrenNamed("HardDisk"))
                entry.Children.Add(ReadOne(child, type, entry, depth + 1));
        return entry;
    }

    private string ResolveLocation(string location)
    {
        if (location.Contains("://", StringComparison.Ordinal))
            return location; // iSCSI and other non-file locations are kept as they are.
        return Path.GetFullPath(Path.IsPathRooted(location) ? location : Path.Combine(BaseDirectory, location));
    }

    /// <summary>The location as stored: relative when inside the registry file's folder, else absolute.</summary>
    public string StoredLocation(string absolute)
    {
        string dir = BaseDirectory.TrimEnd('/') + "/";
        return absolute.StartsWith(dir, StringComparison.Ordinal) ? absolute[dir.Length..] : absolute;
    }

    public XElement? FindElement(Guid id)
    {
        XElement? reg = Registry;
        if (reg == null)
            return null;
        foreach (XElement e in reg.Descendants())
        {
            string local = e.Name.LocalName;
            if ((local == "HardDisk" || local == "Image") && e.Attr("uuid") is string s
                && XmlUtil.TryParseUuid(s, out Guid g) && g == id)
                return e;
        }
        return null;
    }

    public bool Contains(Guid id) => FindElement(id) != null;

    /// <summary>Adds a medium (without children); a differencing disk goes under its parent when the parent is in this registry.</summary>
    public void Add(MediumEntry entry, Guid? parentId = null)
    {
        XElement reg = Registry ?? _createRegistry();
        XNamespace ns = reg.Name.Namespace;
        XElement container;
        XElement? parentElement = parentId is Guid pid ? FindElement(pid) : null;
        if (parentElement != null)
            container = parentElement;
        else
            container = reg.GetOrAdd(entry.DeviceType switch
            {
                DeviceType.DVD => "DVDImages",
                DeviceType.Floppy => "FloppyImages",
                _ => "HardDisks",
            }, RegistryOrder);

        var e = new XElement(ns + (entry.DeviceType == DeviceType.HardDisk ? "HardDisk" : "Image"));
        e.SetAttributeValue("uuid", XmlUtil.FormatUuid(entry.Id));
        e.SetAttributeValue("location", StoredLocation(entry.Location));
        if (entry.DeviceType == DeviceType.HardDisk || !string.Equals(entry.Format, "RAW", StringComparison.OrdinalIgnoreCase))
            e.SetAttributeValue("format", entry.Format);
        bool isBase = parentElement == null && parentId == null;
        if (entry.DeviceType == DeviceType.HardDisk && !isBase && entry.AutoReset)
            e.SetAttributeValue("autoReset", "true");
        if (entry.DeviceType == DeviceType.HardDisk && isBase)
            e.SetAttributeValue("type", TypeName(entry.Type));
        if (entry.Description.Length > 0)
            e.Add(new XElement(ns + "Description", entry.Description));
        foreach (var kv in entry.Properties)
            e.Add(new XElement(ns + "Property", new XAttribute("name", kv.Key), new XAttribute("value", kv.Value)));
        container.Add(e);
    }

    /// <summary>Removes a medium (and anything nested in it); prunes empty containers. Returns false when absent.</summary>
    public bool Remove(Guid id)
    {
        XElement? e = FindElement(id);
        if (e == null)
            return false;
        XElement reg = Registry!;
        XElement? parent = e.Parent;
        e.Remove();
        // Keep the registry tidy the way VirtualBox writes it: no empty lists, no empty registry.
        if (parent != null && parent != reg && parent.Name.LocalName is "HardDisks" or "DVDImages" or "FloppyImages" && !parent.HasElements)
            parent.Remove();
        if (!reg.HasElements && !reg.HasAttributes)
            reg.Remove();
        return true;
    }

    /// <summary>Moves the media nested in <paramref name="fromId"/> under <paramref name="toId"/> (snapshot merges).</summary>
    public void MoveChildren(Guid fromId, Guid toId)
    {
        XElement from = FindElement(fromId) ?? throw new InvalidOperationException($"medium {fromId} is not in {_doc.FilePath}");
        XElement to = FindElement(toId) ?? throw new InvalidOperationException($"medium {toId} is not in {_doc.FilePath}");
        foreach (XElement child in from.ChildrenNamed("HardDisk").ToList())
        {
            child.Remove();
            to.Add(child);
        }
    }

    public void SetType(Guid id, MediumType type)
    {
        XElement e = FindElement(id) ?? throw new InvalidOperationException($"medium {id} is not in {_doc.FilePath}");
        e.SetAttributeValue("type", TypeName(type));
    }

    public void SetDescription(Guid id, string description)
    {
        XElement e = FindElement(id) ?? throw new InvalidOperationException($"medium {id} is not in {_doc.FilePath}");
        e.Attribute("Description")?.Remove();
        XElement? d = e.Child("Description");
        if (description.Length == 0)
            d?.Remove();
        else if (d != null)
            d.Value = description;
        else
            e.AddFirst(new XElement(e.Name.Namespace + "Description", description));
    }

    public void SetAutoReset(Guid id, bool autoReset)
    {
        XElement e = FindElement(id) ?? throw new InvalidOperationException($"medium {id} is not in {_doc.FilePath}");
        e.SetAttributeValue("autoReset", autoReset ? "true" : null);
    }

    public void SetLocation(Guid id, string absoluteLocation)
    {
        XElement e = FindElement(id) ?? throw new InvalidOperationException($"medium {id} is not in {_doc.FilePath}");
        e.SetAttributeValue("location", StoredLocation(absoluteLocation));
    }
}
