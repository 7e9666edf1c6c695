namespace SharpBox.Main.Api;

/// <summary>Result codes of the Main API (COM HRESULTs, as VirtualBox defines them).</summary>
public static class ResultCode
{
    public const int S_OK = 0;
    public const int E_FAIL = unchecked((int)0x80004005);
    public const int E_INVALIDARG = unchecked((int)0x80070057);
    public const int E_ACCESSDENIED = unchecked((int)0x80070005);
    public const int E_NOTIMPL = unchecked((int)0x80004001);
    public const int E_ABORT = unchecked((int)0x80004004);
    public const int VBOX_E_OBJECT_NOT_FOUND = unchecked((int)0x80BB0001);
    public const int VBOX_E_INVALID_VM_STATE = unchecked((int)0x80BB0002);
    public const int VBOX_E_VM_ERROR = unchecked((int)0x80BB0003);
    public const int VBOX_E_FILE_ERROR = unchecked((int)0x80BB0004);
    public const int VBOX_E_IPRT_ERROR = unchecked((int)0x80BB0005);
    public const int VBOX_E_PDM_ERROR = unchecked((int)0x80BB0006);
    public const int VBOX_E_INVALID_OBJECT_STATE = unchecked((int)0x80BB0007);
    public const int VBOX_E_HOST_ERROR = unchecked((int)0x80BB0008);
    public const int VBOX_E_NOT_SUPPORTED = unchecked((int)0x80BB0009);
    public const int VBOX_E_XML_ERROR = unchecked((int)0x80BB000A);
    public const int VBOX_E_INVALID_SESSION_STATE = unchecked((int)0x80BB000B);
    public const int VBOX_E_OBJECT_IN_USE = unchecked((int)0x80BB000C);

    public static string Name(int code) => code switch
    {
        S_OK => "S_OK",
        E_FAIL => "NS_ERROR_FAILURE",
        E_INVALIDARG => "NS_ERROR_INVALID_ARG",
        E_ACCESSDENIED => "NS_ERROR_ACCESS_DENIED",
        E_NOTIMPL => "NS_ERROR_NOT_IMPLEMENTED",
        E_ABORT => "NS_ERROR_ABORT",
        VBOX_E_OBJECT_NOT_FOUND => "VBOX_E_OBJECT_NOT_FOUND",
        VBOX_E_INVALID_VM_STATE => "VBOX_E_INVALID_VM_STATE",
        VBOX_E_VM_ERROR => "VBOX_E_VM_ERROR",
        VBOX_E_FILE_ERROR => "VBOX_E_FILE_ERROR",
        VBOX_E_IPRT_ERROR => "VBOX_E_IPRT_ERROR",
        VBOX_E_PDM_ERROR => "VBOX_E_PDM_ERROR",
        VBOX_E_INVALID_OBJECT_STATE => "VBOX_E_INVALID_OBJECT_STATE",
        VBOX_E_HOST_ERROR => "VBOX_E_HOST_ERROR",
        VBOX_E_NOT_SUPPORTED => "VBOX_E_NOT_SUPPORTED",
        VBOX_E_XML_ERROR => "VBOX_E_XML_ERROR",
        VBOX_E_INVALID_SESSION_STATE => "VBOX_E_INVALID_SESSION_STATE",
        VBOX_E_OBJECT_IN_USE => "VBOX_E_OBJECT_IN_USE",
        _ => $"0x{code:x8}",
    };
}

/// <summary>
/// Error information of a failed API call: plain data (message, result code, the component and
/// interface that raised it), so it can cross a process boundary unchanged.
/// </summary>
public sealed record VBoxErrorInfo(int ResultCode, string Message, string Component, string Interface);

/// <summary>A failed Main API call. <see cref="Info"/> carries everything VBoxManage prints.</summary>
public class VBoxException : Exception
{
    public VBoxErrorInfo Info { get; }
    public int ResultCode => Info.ResultCode;

    public VBoxException(int resultCode, string message, string component, string iface, Exception? inner = null)
        : base(message, inner)
    {
        Info = new VBoxErrorInfo(resultCode, message, component, iface);
    }

    public VBoxException(VBoxErrorInfo info) : base(info.Message) => Info = info;
}
