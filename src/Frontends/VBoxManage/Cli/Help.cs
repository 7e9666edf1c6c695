namespace VBoxManage.Cli;

/// <summary>
/// Per-command help: a brief description, the synopsis (the usage printed with syntax errors) and the
/// option descriptions of `VBoxManage help CMD` / `VBoxManage CMD --help`. The syntax follows the
/// VBoxManage chapter of the VirtualBox 7 manual.
/// </summary>
internal static class Help
{
    internal sealed record Topic(string Brief, string[] Synopsis, (string Option, string Text)[] Options, string? Description = null);

    private const string VM = "<uuid|vmname>";

    private static readonly Dictionary<string, Topic> Topics = new()
    {
        ["list"] = new("list configured VMs and host or VirtualBox information",
            new[] { "VBoxManage list [--long] [--sorted] bridgedifs | cloudnets | cloudprofiles | cloudproviders | cpu-profiles | dhcpservers | dvds | extpacks | floppies | groups | hddbackends | hdds | hostcpuids | hostdrives | hostdvds | hostfloppies | hostinfo | hostonlyifs | hostonlynets | intnets | natnets | ostypes | runningvms | screenshotformats | systemproperties | usbfilters | usbhost | vms | webcams" },
            new[]
            {
                ("--long, -l", "Shows detailed information about each entry, if available."),
                ("--sorted, -s", "Sorts the list of entries alphabetically, if possible."),
                ("vms", "Lists the registered virtual machines: name and UUID."),
                ("runningvms", "Lists the virtual machines that are currently running."),
                ("ostypes", "Lists the guest operating systems VirtualBox knows, with their identifiers for createvm/modifyvm --ostype."),
                ("hdds, dvds, floppies", "Lists the media in the media registries, with their UUIDs, state and location."),
                ("hddbackends", "Lists the disk image formats."),
                ("systemproperties", "Shows global settings and the limits of the virtual hardware."),
                ("hostinfo", "Shows the host's processors, memory and operating system."),
            }),
        ["showvminfo"] = new("show configuration information or log file contents for a virtual machine",
            new[] { $"VBoxManage showvminfo {VM} [--details] [--machinereadable] [--password-id id] [--password file|-]" },
            new[]
            {
                ("--details", "Includes detailed information about the VM configuration."),
                ("--machinereadable", "Prints key=\"value\" lines with VirtualBox's keys, for scripts."),
            }),
        ["registervm"] = new("register a virtual machine",
            new[] { "VBoxManage registervm filename [--password file]" },
            new[] { ("filename", "The settings file (.vbox) of the machine; relative paths are taken from the current directory.") }),
        ["unregistervm"] = new("unregister a virtual machine",
            new[] { $"VBoxManage unregistervm {VM} [--delete] [--delete-all]" },
            new[]
            {
                ("--delete", "Deletes the settings file, its backups, the log files and the hard disk images attached only to this machine."),
                ("--delete-all", "Like --delete, and also deletes the DVD and floppy images attached only to this machine."),
            }),
        ["createvm"] = new("create a new virtual machine",
            new[] { "VBoxManage createvm --name=name [--basefolder=basefolder] [--default] [--groups=group-ID[,...]] [--ostype=ostype] [--register] [--uuid=uuid] [--cipher cipher] [--password-id password-id] [--password file]" },
            new[]
            {
                ("--name=name", "The name of the new machine (required)."),
                ("--basefolder=basefolder", "The folder in which the machine folder is created (default: the default machine folder)."),
                ("--default", "Applies the recommended hardware of the guest OS type."),
                ("--groups=group-ID[,...]", "The groups of the machine, e.g. /servers."),
                ("--ostype=ostype", "The guest OS type (see VBoxManage list ostypes)."),
                ("--register", "Registers the machine (otherwise only its settings file is written)."),
                ("--uuid=uuid", "The UUID of the new machine (default: a random one)."),
            }),
        ["clonevm"] = new("create a clone of an existing virtual machine",
            new[] { $"VBoxManage clonevm {VM} [--basefolder=basefolder] [--groups=group,...] [--mode=machine | --mode=machinechildren | --mode=all] [--name=name] [--options=option,...] [--register] [--snapshot=snapshot-name] [--uuid=uuid]" },
            new[]
            {
                ("--name=name", "The name of the clone (default: \"<source> Clone\")."),
                ("--mode", "Which states to clone: machine (the current state only), machinechildren or all."),
                ("--options", "Link, KeepAllMACs, KeepNATMACs, KeepDiskNames, KeepHwUUIDs."),
                ("--register", "Registers the clone."),
            }),
        ["modifyvm"] = new("change settings for a virtual machine that is stopped",
            new[]
            {
                $"VBoxManage modifyvm {VM} [--name=name] [--groups=group[,...]] [--description=description] [--os-type=OS-type] [--memory=size-in-MB] [--vram=size-in-MB] [--cpus=CPU-count] [--cpu-execution-cap=percentage] [--firmware=bios | efi | efi32 | efi64] [--acpi=on | off] [--ioapic=on | off] [--hpet=on | off] [--pae=on | off] [--long-mode=on | off] [--x2apic=on | off] [--hwvirtex=on | off] [--nested-paging=on | off] [--large-pages=on | off] [--vtx-vpid=on | off] [--vtx-ux=on | off] [--nested-hw-virt=on | off] [--paravirt-provider=none | default | legacy | minimal | hyperv | kvm] [--paravirt-debug=keyword=value[,keyword=value...]] [--chipset=ich9 | piix3] [--rtc-use-utc=on | off] [--bios-boot-menu=disabled | menuonly | messageandmenu] [--bios-apic=disabled | apic | x2apic] [--bios-system-time-offset=msec] [--boot1=disk | dvd | floppy | net | none] [--boot2=...] [--boot3=...] [--boot4=...] [--graphicscontroller=none | vboxvga | vmsvga | vboxsvga] [--monitor-count=number] [--accelerate-3d=on | off] [--mouse=ps2 | usb | usbtablet | usbmultitouch | usbmtscreenpluspad] [--keyboard=ps2 | usb] [--snapshot-folder=default | path] [--hardware-uuid=UUID]",
                $"VBoxManage modifyvm {VM} [--nicN=none | null | nat | bridged | intnet | hostonly | hostonlynet | generic | natnetwork | cloud] [--nic-typeN=Am79C970A | Am79C973 | Am79C960 | 82540EM | 82543GC | 82545EM | virtio] [--cable-connectedN=on | off] [--nic-speedN=kbps] [--nic-boot-prioN=priority] [--nic-promiscN=deny | allow-vms | allow-all] [--mac-addressN=auto | MAC-address] [--bridge-adapterN=none | device-name] [--host-only-adapterN=none | device-name] [--intnetN=network-name] [--nat-networkN=network-name] [--nic-generic-drvN=driver-name] [--nic-traceN=on | off] [--nic-trace-fileN=filename]",
                $"VBoxManage modifyvm {VM} [--uartN=off | IO-base IRQ] [--uart-modeN=disconnected | server pipe | client pipe | tcpserver port | tcpclient hostname:port | file filename | device-name] [--uart-typeN=16450 | 16550A | 16750]",
                $"VBoxManage modifyvm {VM} [--boot-kernel=path | none] [--boot-initrd=path | none] [--boot-cmdline=string]",
            },
            new[]
            {
                ("--memory=size-in-MB", "Guest RAM in MB; at least 4 MB and at most the host's memory."),
                ("--cpus=CPU-count", "Virtual CPUs; 1 up to the host's CPU count."),
                ("--os-type, --ostype", "The guest OS type (see VBoxManage list ostypes)."),
                ("--nested-paging, --nestedpaging; --large-pages, --largepages; --vtx-vpid, --vtxvpid; --paravirt-provider, --paravirtprovider", "Older spellings are accepted."),
                ("--nicN, --nic-typeN, --cable-connectedN", "Configure network adapter N (1-8, 1-36 with the ICH9 chipset)."),
                ("--uartN, --uart-modeN, --uart-typeN", "Configure serial port N (1-4): I/O base and IRQ, host side, UART type. The device name pty (or pty:link) gives a pseudo-terminal."),
                ("--boot-kernel, --boot-initrd, --boot-cmdline", "Direct kernel boot (SharpBox): a Linux bzImage, a PVH vmlinux or a Multiboot kernel, its initrd and command line; stored as extra data."),
            }),
        ["createmedium"] = new("create a new virtual hard disk image",
            new[] { "VBoxManage createmedium [disk | dvd | floppy] --filename=filename [--size=megabytes | --sizebyte=bytes] [--diffparent=UUID | filename] [--format=VDI | VMDK | VHD] [--variant Standard | Fixed | Split2G | Stream | ESX | Formatted | RawDisk] [--property name=value...] [--property-file name=/path/to/file/with/value]..." },
            new[]
            {
                ("--filename=filename", "The image file; the format's extension is appended when the name has none."),
                ("--size=megabytes, --sizebyte=bytes", "The capacity of the new image."),
                ("--diffparent=UUID | filename", "Creates a differencing image on top of this parent."),
                ("--format=VDI | VMDK | VHD", "The image format (default VDI)."),
                ("--variant=Standard | Fixed", "Dynamically allocated (default) or preallocated."),
            }),
        ["showmediuminfo"] = new("show information about a virtual hard disk, DVD, or floppy disk image",
            new[] { "VBoxManage showmediuminfo [disk | dvd | floppy] <uuid | filename>" },
            Array.Empty<(string, string)>()),
        ["modifymedium"] = new("change the characteristics of a disk image",
            new[] { "VBoxManage modifymedium [disk | dvd | floppy] <uuid | filename> [--autoreset=on | off] [--compact] [--description=description] [--move=pathname] [--property=name=[value]] [--resize=megabytes | --resizebyte=bytes] [--setlocation=pathname] [--type=normal | writethrough | immutable | shareable | readonly | multiattach]" },
            new[]
            {
                ("--compact", "Removes blocks that contain only zeros from a dynamic image."),
                ("--resize=megabytes", "Grows the image to the new capacity (shrinking is not supported)."),
                ("--type", "Changes the medium type (only for media not attached to a machine)."),
            }),
        ["clonemedium"] = new("create a clone of a medium",
            new[] { "VBoxManage clonemedium [disk | dvd | floppy] <uuid | source-medium> <uuid | target-medium> [--existing] [--format=VDI | VMDK | VHD | RAW | other] [--variant=Standard | Fixed | Split2G | Stream | ESX] [--resize=megabytes]" },
            new[] { ("--format", "The format of the copy (default: the source's format)."), ("--variant", "Standard or Fixed.") }),
        ["closemedium"] = new("remove a hard disk, DVD, or floppy image from the media registry",
            new[] { "VBoxManage closemedium [disk | dvd | floppy] <uuid | filename> [--delete]" },
            new[] { ("--delete", "Also deletes the image file.") }),
        ["convertfromraw"] = new("convert a raw disk image to a virtual disk image",
            new[]
            {
                "VBoxManage convertfromraw inputfile outputfile [--format=VDI | VMDK | VHD] [--uuid=uuid] [--variant=Standard | Fixed | Split2G | Stream | ESX]",
                "VBoxManage convertfromraw stdin outputfile bytes [--format=VDI | VMDK | VHD] [--uuid=uuid] [--variant=Standard | Fixed | Split2G | Stream | ESX]",
            },
            new[] { ("--format", "The format of the new image (default VDI)."), ("--uuid", "The UUID of the new image.") }),
        ["storagectl"] = new("manage a storage controller",
            new[] { $"VBoxManage storagectl {VM} --name=controller-name [--add=floppy | ide | pcie | sas | sata | scsi | usb | virtio] [--controller=BusLogic | I82078 | ICH6 | IntelAhci | LSILogic | LSILogicSAS | NVMe | PIIX3 | PIIX4 | USB | VirtIO] [--bootable=on | off] [--hostiocache=on | off] [--portcount=count] [--remove] [--rename=new-controller-name]" },
            new[]
            {
                ("--name", "The controller's name (required)."),
                ("--add", "Adds a controller of this bus type."),
                ("--controller", "The chipset the controller emulates."),
                ("--portcount", "The number of ports."),
                ("--remove", "Removes the controller and everything attached to it."),
            }),
        ["storageattach"] = new("attach, remove, and modify storage media used by a virtual machine",
            new[] { $"VBoxManage storageattach {VM} --storagectl=name [--bandwidthgroup= name | none] [--comment=text] [--device=number] [--discard= on | off] [--encodedlun=lun] [--forceunmount] [--hotpluggable= on | off] [--initiator=initiator] [--intnet] [--lun=lun] [--medium= none | emptydrive | additions | uuid | filename | host:drive | iscsi] [--mtype= normal | writethrough | immutable | shareable | readonly | multiattach] [--nonrotational= on | off] [--passthrough= on | off] [--passwordfile=file] [--password=password] [--port=number] [--server= name | ip] [--setparentuuid=uuid] [--setuuid=uuid] [--target=target] [--tempeject= on | off] [--tport=port] [--type= dvddrive | fdd | hdd] [--username=username]" },
            new[]
            {
                ("--storagectl", "The controller (see storagectl)."),
                ("--port, --device", "The slot on the controller."),
                ("--type", "dvddrive, hdd or fdd."),
                ("--medium", "none removes the device, emptydrive leaves a drive without medium; a file or UUID attaches that medium (registering it with the machine)."),
            }),
        ["getextradata"] = new("view keyword values that are associated with a virtual machine or configuration",
            new[] { $"VBoxManage getextradata global | {VM} <property-name | enumerate>" },
            Array.Empty<(string, string)>()),
        ["setextradata"] = new("set a keyword value that is associated with a virtual machine or configuration",
            new[] { $"VBoxManage setextradata global | {VM} <keyword> [value]" },
            new[] { ("value", "Omitting the value deletes the keyword.") }),
        ["startvm"] = new("start a virtual machine",
            new[] { $"VBoxManage startvm {VM}... [--putenv=name[=value]] [--type=headless] [--password file] [--password-id password-identifier]" },
            new[]
            {
                ("--type=headless", "VBoxSVC starts the VM process (VBoxHeadless) in the background; the command returns when the VM runs. Only headless VMs exist in SharpBox."),
                ("--putenv=name[=value]", "Sets an environment variable for the VM process."),
            }),
        ["controlvm"] = new("change state and settings for a running virtual machine",
            new[]
            {
                $"VBoxManage controlvm {VM} pause | resume | reset | poweroff | savestate | acpipowerbutton",
                $"VBoxManage controlvm {VM} keyboardputscancode hex [hex...]",
                $"VBoxManage controlvm {VM} setlinkstate<1-N> on | off",
                $"VBoxManage controlvm {VM} screenshotpng filename [display]",
            },
            new[]
            {
                ("pause, resume", "Stops the guest's CPUs (its clock stands still) and lets it go on."),
                ("reset", "Resets the VM (a hard reset, like the reset button)."),
                ("poweroff", "Turns the VM off at once, like pulling the plug; the VM process ends."),
                ("savestate", "Saves the VM's state to the snapshot folder and ends the VM process; the machine is then Saved and startvm resumes it."),
                ("acpipowerbutton", "Presses the ACPI power button; the guest decides what to do."),
                ("keyboardputscancode", "Sends scancodes (set 1, two hex digits each) to the guest's keyboard."),
                ("setlinkstate<N>", "Plugs or unplugs the cable of network adapter N."),
                ("screenshotpng", "Saves a PNG of the guest's screen (needs a display device)."),
            }),
        ["debugvm"] = new("introspection and guest debugging",
            new[]
            {
                $"VBoxManage debugvm {VM} dumpvmcore --filename=name",
                $"VBoxManage debugvm {VM} info item [args...]",
                $"VBoxManage debugvm {VM} injectnmi",
                $"VBoxManage debugvm {VM} osdetect",
                $"VBoxManage debugvm {VM} osinfo",
                $"VBoxManage debugvm {VM} getregisters [--cpu=id] [reg-set.]reg-name...",
                $"VBoxManage debugvm {VM} setregisters [--cpu=id] [reg-set.]reg-name=value...",
                $"VBoxManage debugvm {VM} statistics [--descriptions] [--pattern=pattern]",
            },
            new[]
            {
                ("dumpvmcore --filename=name", "Writes an ELF core of the VM (every vCPU's registers, all guest RAM) that gdb -c opens. The file must not exist."),
                ("info item", "Shows an info item: registers, cpuid, mmio, ioports, devices, timers (help lists them)."),
                ("injectnmi", "Raises a non-maskable interrupt on the first vCPU."),
                ("osdetect, osinfo", "Names the guest OS (and its version) from what is in guest RAM; Linux is recognised by its kernel banner."),
                ("getregisters [--cpu=id] name... | all", "Prints registers by their debugger names (rax, eip, cs, cs_base, cr0, efer, ...) in hexadecimal."),
                ("setregisters [--cpu=id] name=value...", "Changes registers (0x-prefixed hexadecimal or decimal); all are checked before any is set."),
                ("statistics [--descriptions] [--pattern=pattern]", "Prints the VM's counters as XML; the pattern selects names with * and ? globs separated by |."),
            }),
        ["snapshot"] = new("manage virtual machine snapshots",
            new[]
            {
                $"VBoxManage snapshot {VM} take snapshot-name [--description=description] [--live] [--uniquename Number,Timestamp,Space,Force]",
                $"VBoxManage snapshot {VM} delete snapshot-name",
                $"VBoxManage snapshot {VM} restore snapshot-name",
                $"VBoxManage snapshot {VM} restorecurrent",
                $"VBoxManage snapshot {VM} edit snapshot-name | --current [--description=description] [--name=new-name]",
                $"VBoxManage snapshot {VM} list [--details | --machinereadable]",
                $"VBoxManage snapshot {VM} showvminfo snapshot-name",
            },
            new[]
            {
                ("take", "Takes a snapshot of the current state: the settings, and differencing images for the hard disks (in the snapshot folder). A running VM's snapshot includes its saved state; --live keeps the VM running while it is taken."),
                ("delete", "Deletes a snapshot; its differencing images are merged into their parents. A snapshot with more than one child cannot be deleted."),
                ("restore", "Restores the settings and disks of a snapshot (new differencing images; the current state's own are deleted) and, for an online snapshot, its saved state."),
                ("restorecurrent", "Restores the current snapshot."),
                ("edit", "Changes the name or description of a snapshot (or of the current one with --current)."),
                ("list", "Lists the snapshot tree; * marks the current snapshot."),
                ("showvminfo", "Shows the settings of the machine as they were in the snapshot."),
            }),
        ["discardstate"] = new("discard the saved state of a virtual machine",
            new[] { $"VBoxManage discardstate {VM}" },
            new[] { ("discardstate", "Deletes the saved state of a machine that is not running; it then starts from scratch.") }),
        ["adoptstate"] = new("change the state of a virtual machine that is powered off to saved",
            new[] { $"VBoxManage adoptstate {VM} state-filename" },
            new[] { ("state-filename", "A saved-state file (.sav) of this machine; the machine becomes Saved and starts from it.") }),
        ["setproperty"] = new("change global settings",
            new[] { "VBoxManage setproperty <property-name> <property-value>", "properties: autostartdbpath, defaultfrontend, hwvirtexclusive, language, logginglevel, loghistorycount, machinefolder, proxymode, proxyurl, vrdeauthlibrary, vrdeextpack, websrvauthlibrary" },
            new[] { ("machinefolder default | folder", "The default folder for new machines.") }),
    };

    public static Topic? Find(string name) => Topics.TryGetValue(name, out Topic? t) ? t : null;

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    /// <summary>Prints "Usage - Brief:" and the synopsis; returns the number of lines written.</summary>
    public static int PrintUsage(string topic, TextWriter w)
    {
        Topic? t = Find(topic);
        if (t == null)
        {
            w.WriteLine("Usage: VBoxManage <command> [<options>]  (VBoxManage help lists the commands)");
            return 1;
        }
        int lines = 2;
        w.WriteLine($"Usage - {Capitalize(t.Brief)}:");
        w.WriteLine();
        foreach (string s in t.Synopsis)
        {
            w.WriteLine("  " + s);
            w.WriteLine();
            lines += 2 + s.Length / 100;
        }
        return lines;
    }

    /// <summary>The full help of a command (VBoxManage help CMD, CMD --help).</summary>
    public static void PrintFull(string topic, TextWriter w)
    {
        Topic? t = Find(topic);
        if (t == null)
        {
            PrintUsage(topic, w);
            return;
        }
        w.WriteLine($"{topic} -- {t.Brief}");
        w.WriteLine();
        w.WriteLine("Synopsis");
        w.WriteLine();
        foreach (string s in t.Synopsis)
        {
            w.WriteLine("  " + s);
            w.WriteLine();
        }
        if (t.Options.Length > 0)
        {
            w.WriteLine("Options");
            w.WriteLine();
            foreach ((string opt, string text) in t.Options)
            {
                w.WriteLine("  " + opt);
                w.WriteLine("      " + text);
                w.WriteLine();
            }
        }
    }

    public static void PrintLogo(TextWriter w)
    {
        w.WriteLine($"SharpBox Command Line Management Interface Version {SharpBox.Main.Impl.VirtualBox.ProductVersion} (VirtualBox-compatible)");
        w.WriteLine();
    }

    /// <summary>Every command's usage (VBoxManage help).</summary>
    public static void PrintAll(TextWriter w, IEnumerable<string> topics)
    {
        PrintLogo(w);
        w.WriteLine("Usage:");
        w.WriteLine();
        w.WriteLine("  VBoxManage [-V | --version] [--dump-build-type] [-q | --nologo] [--settingspw=password] [--settingspwfile=pw-file] [@response-file] [[help] subcommand]");
        w.WriteLine();
        foreach (string topic in topics)
        {
            Topic? t = Find(topic);
            if (t == null)
                continue;
            foreach (string s in t.Synopsis)
            {
                w.WriteLine("  " + s);
                w.WriteLine();
            }
        }
    }
}
