using System.Xml.Linq;

namespace SharpBox.Main.Settings;

/// <summary>One &lt;MachineEntry&gt; of VirtualBox.xml.</summary>
public sealed record MachineRegistryEntry(Guid Id, string SettingsFile);

/// <summary>
/// Typed view of VirtualBox.xml: the machine registry, system properties, global extra data and the
/// global media registry. Everything else in the file (DHCP servers, NAT networks, USB filters,
/// update settings, elements of later VirtualBox versions) is kept as read.
/// </summary>
public sealed class MainConfig
{
    public static readonly string[] GlobalOrder =
    {
        "ExtraData", "MachineRegistry", "MediaRegistry", "NetserviceRegistry", "Updates", "SystemProperties",
        "USBDeviceFilters", "USBDeviceSources",
    };

    public SettingsDocument Doc { get; }
    public XElement Global { get; }
    private readonly string _homeFolder;

    public MainConfig(SettingsDocument doc, string homeFolder)
    {
        Doc = doc;
        _homeFolder = homeFolder;
        XElement? global = doc.Root.Child("Global");
        if (global == null)
        {
            if (doc.VersionOnDisk != null)
                throw doc.Error(doc.Root, "Required VirtualBox/Global element is missing");
            global = new XElement(doc.Ns + "Global");
            doc.Root.Add(global);
        }
        Global = global;
        Validate();
    }

    /// <summary>Loads VirtualBox.xml, or builds the default one (not yet written) when it does not exist.</summary>
    public static MainConfig LoadOrCreate(string path, string homeFolder)
    {
        if (File.Exists(path))
            return new MainConfig(SettingsDocument.Load(path), homeFolder);
        var doc = SettingsDocument.CreateNew(path);
        var cfg = new MainConfig(doc, homeFolder);
        cfg.InitializeDefaults();
        return cfg;
    }

    /// <summary>Checks the parts we interpret so that a malformed file is refused before anything is changed.</summary>
    private void Validate()
    {
        _ = MachineEntries();
        _ = MediaRegistry.ReadAll();
        var r = new AttrReader(Doc);
        XElement? sys = Global.Child("SystemProperties");
        r.UInt(sys, "LogHistoryCount", 3);
        foreach (XElement item in Global.Child("ExtraData").ChildrenNamed("ExtraDataItem"))
        {
            r.Required(item, "name");
            r.Required(item, "value");
        }
    }

    private void InitializeDefaults()
    {
        XNamespace ns = Doc.Ns;
        Global.GetOrAdd("MachineRegistry", GlobalOrder);
        // A fresh VirtualBox.xml carries the host-only network's DHCP server, as VirtualBox creates it.
        XElement net = Global.GetOrAdd("NetserviceRegistry", GlobalOrder);
        net.Add(new XElement(ns + "DHCPServers",
            new XElement(ns + "DHCPServer",
                new XAttribute("networkName", "HostInterfaceNetworking-vboxnet0"),
                new XAttribute("IPAddress", "192.168.56.100"),
                new XAttribute("networkMask", "255.255.255.0"),
                new XAttribute("lowerIP", "192.168.56.101"),
                new XAttribute("upperIP", "192.168.56.254"),
                new XAttribute("enabled", "1"))));
        XElement sys = Global.GetOrAdd("SystemProperties", GlobalOrder);
        sys.SetAttributeValue("defaultMachineFolder", DefaultMachineFolderFallback);
        sys.SetAttributeValue("defaultHardDiskFormat", "VDI");
        sys.SetAttributeValue("VRDEAuthLibrary", "VBoxAuth");
        sys.SetAttributeValue("webServiceAuthLibrary", "VBoxAuth");
        sys.SetAttributeValue("LogHistoryCount", "3");
        sys.SetAttributeValue("proxyMode", "0");
        sys.SetAttributeValue("exclusiveHwVirt", "true");
        Global.GetOrAdd("USBDeviceFilters", GlobalOrder);
    }

    /// <summary>"&lt;home&gt;/VirtualBox VMs" where home is the user's home directory.</summary>
    public static string DefaultMachineFolderFallback
        => Path.Combine(Runtime.UserHome.HomeDirectory(Runtime.UserHome.Process), "VirtualBox VMs");

    public List<MachineRegistryEntry> MachineEntries()
    {
        var list = new List<MachineRegistryEntry>();
        var r = new AttrReader(Doc);
        foreach (XElement e in Global.Child("MachineRegistry").ChildrenNamed("MachineEntry"))
        {
            Guid id = r.Uuid(e, "uuid", required: true);
            string src = r.Required(e, "src");
            list.Add(new MachineRegistryEntry(id, Path.GetFullPath(Path.IsPathRooted(src) ? src : Path.Combine(_homeFolder, src))));
        }
        return list;
    }

    public void AddMachineEntry(Guid id, string settingsFile)
    {
        XElement reg = Global.GetOrAdd("MachineRegistry", GlobalOrder);
        reg.Add(new XElement(Doc.Ns + "MachineEntry",
            new XAttribute("uuid", XmlUtil.FormatUuid(id)),
            new XAttribute("src", settingsFile)));
    }

    public bool RemoveMachineEntry(Guid id)
    {
        foreach (XElement e in Global.Child("MachineRegistry").ChildrenNamed("MachineEntry").ToList())
            if (XmlUtil.TryParseUuid(e.Attr("uuid") ?? "", out Guid g) && g == id)
            {
                e.Remove();
                return true;
            }
        return false;
    }

    public void SetMachineEntryPath(Guid id, string settingsFile)
    {
        foreach (XElement e in Global.Child("MachineRegistry").ChildrenNamed("MachineEntry"))
            if (XmlUtil.TryParseUuid(e.Attr("uuid") ?? "", out Guid g) && g == id)
                e.SetAttributeValue("src", settingsFile);
    }

    private XElement? SystemProperties => Global.Child("SystemProperties");

    /// <summary>The configured default machine folder, or "~/VirtualBox VMs" when none is set.</summary>
    public string DefaultMachineFolder
    {
        get
        {
            string? v = SystemProperties.Attr("defaultMachineFolder");
            return string.IsNullOrEmpty(v) ? DefaultMachineFolderFallback : v;
        }
        set => Global.GetOrAdd("SystemProperties", GlobalOrder).SetAttributeValue("defaultMachineFolder", string.IsNullOrEmpty(value) ? DefaultMachineFolderFallback : value);
    }

    public string SystemProperty(string name, string dflt) => SystemProperties.Attr(name) ?? dflt;

    /// <summary>Sets (or with null removes) an attribute of SystemProperties.</summary>
    public void SetSystemProperty(string name, string? value)
        => Global.GetOrAdd("SystemProperties", GlobalOrder).SetAttributeValue(name, string.IsNullOrEmpty(value) ? null : value);

    public uint LogHistoryCount => new AttrReader(Doc).UInt(SystemProperties, "LogHistoryCount", 3);
    public bool ExclusiveHwVirt => new AttrReader(Doc).Bool(SystemProperties, "exclusiveHwVirt", true);

    public ExtraDataXml ExtraData => new(Doc, Global, () => Global.GetOrAdd("ExtraData", GlobalOrder));

    public MediaRegistryXml MediaRegistry => new(Doc, Global, () => Global.GetOrAdd("MediaRegistry", GlobalOrder));
}

/// <summary>An &lt;ExtraData&gt; list (global or per machine), kept sorted by name as VirtualBox writes it.</summary>
public sealed class ExtraDataXml
{
    private readonly SettingsDocument _doc;
    private readonly XElement _owner;
    private readonly Func<XElement> _create;

    public ExtraDataXml(SettingsDocument doc, XElement owner, Func<XElement> create)
    {
        _doc = doc;
        _owner = owner;
        _create = create;
    }

    public IReadOnlyList<KeyValuePair<string, string>> Items()
    {
        var r = new AttrReader(_doc);
        var list = new List<KeyValuePair<string, string>>();
        foreach (XElement item in _owner.Child("ExtraData").ChildrenNamed("ExtraDataItem"))
            list.Add(new(r.Required(item, "name"), r.Required(item, "value")));
        return list;
    }

    public string Get(string key)
    {
        foreach (XElement item in _owner.Child("ExtraData").ChildrenNamed("ExtraDataItem"))
            if (item.Attr("name") == key)
                return item.Attr("value") ?? "";
        return "";
    }

    /// <summary>Sets a key; null or empty deletes it (VirtualBox's semantics).</summary>
    public void Set(string key, string? value)
    {
        XElement? list = _owner.Child("ExtraData");
        if (list != null)
            foreach (XElement item in list.ChildrenNamed("ExtraDataItem"))
                if (item.Attr("name") == key)
                {
                    if (string.IsNullOrEmpty(value))
                    {
                        item.Remove();
                        if (!list.HasElements)
                            list.Remove();
                    }
                    else
                        item.SetAttributeValue("value", value);
                    return;
                }
        if (string.IsNullOrEmpty(value))
            return;
        list ??= _create();
        var created = new XElement(list.Name.Namespace + "ExtraDataItem", new XAttribute("name", key), new XAttribute("value", value));
        foreach (XElement item in list.ChildrenNamed("ExtraDataItem"))
            if (string.CompareOrdinal(item.Attr("name"), key) > 0)
            {
                item.AddBeforeSelf(created);
                return;
            }
        list.Add(created);
    }
}
