using System.Globalization;
using System.Xml.Linq;

namespace SharpBox.Main.Settings;

/// <summary>
/// One Snapshot element of a .vbox, in VirtualBox's shape: the first snapshot is a child of Machine
/// (before Hardware), later ones nest in their parent's Snapshots element. A snapshot carries
/// uuid, name, timeStamp and, for online snapshots, stateFile; a Description child; and copies of the
/// machine's state elements of that time (<see cref="MachineConfig.StateElementNames"/>).
/// </summary>
public sealed class SnapshotXml
{
    private readonly MachineConfig _cfg;
    public XElement Element { get; }

    internal SnapshotXml(MachineConfig cfg, XElement element)
    {
        _cfg = cfg;
        Element = element;
    }

    private AttrReader R => new(_cfg.Doc);

    public Guid Id => R.Uuid(Element, "uuid", required: true);

    public string Name
    {
        get => R.Required(Element, "name");
        set => Element.SetAttributeValue("name", value);
    }

    public string Description
    {
        get => Element.Child("Description")?.Value ?? "";
        set
        {
            XElement? d = Element.Child("Description");
            if (string.IsNullOrEmpty(value))
                d?.Remove();
            else if (d != null)
                d.Value = value;
            else
                Element.AddFirst(new XElement(_cfg.Doc.Ns + "Description", value));
        }
    }

    public DateTime TimeStamp
    {
        get
        {
            string s = R.Required(Element, "timeStamp");
            if (!DateTime.TryParseExact(s, "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime t))
                throw _cfg.Doc.Error(Element, $"Invalid timestamp '{s}' in Snapshot/@timeStamp attribute");
            return t;
        }
    }

    /// <summary>The saved-state file as stored (relative to the machine folder unless absolute); empty for offline snapshots.</summary>
    public string StateFile
    {
        get => Element.Attr("stateFile") ?? "";
        set => Element.SetAttributeValue("stateFile", string.IsNullOrEmpty(value) ? null : value);
    }

    public SnapshotXml? Parent
    {
        get
        {
            XElement? list = Element.Parent;
            if (list == null || list.Name.LocalName != "Snapshots")
                return null;
            XElement? p = list.Parent;
            return p != null && p.Name.LocalName == "Snapshot" ? new SnapshotXml(_cfg, p) : null;
        }
    }

    public IReadOnlyList<SnapshotXml> Children
        => Element.Child("Snapshots").ChildrenNamed("Snapshot").Select(e => new SnapshotXml(_cfg, e)).ToList();

    /// <summary>This snapshot and all below it, parents first.</summary>
    public IEnumerable<SnapshotXml> SelfAndDescendants()
    {
        yield return this;
        foreach (SnapshotXml c in Children)
            foreach (SnapshotXml d in c.SelfAndDescendants())
                yield return d;
    }

    /// <summary>Adds a child snapshot element at the end of this snapshot's Snapshots list.</summary>
    internal void AddChild(XElement child)
    {
        XElement? list = Element.Child("Snapshots");
        if (list == null)
        {
            list = new XElement(_cfg.Doc.Ns + "Snapshots");
            Element.Add(list);
        }
        list.Add(child);
    }

    /// <summary>The machine as it was at this snapshot: a read-only view over a copy of its state elements.</summary>
    public MachineConfig AsMachineConfig() => _cfg.SnapshotView(this);
}
