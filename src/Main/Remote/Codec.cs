using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using SharpBox.Main.Api;

namespace SharpBox.Main.Remote;

/// <summary>Turns API objects into handles (server) or proxies into their handles (client).</summary>
public interface IRefWriter
{
    long HandleOf(object apiObject, Type iface);
}

/// <summary>Turns handles into API objects (server: the registered object; client: a proxy).</summary>
public interface IRefReader
{
    object ObjectOf(long handle, Type iface);
}

/// <summary>
/// The JSON encoding of Main API values, driven by the declared type: null; bool; integers and
/// enums as JSON numbers (VirtualBox's XIDL values); strings; Guids as "xxxxxxxx-xxxx-..."; DateTime
/// as ISO 8601 UTC; byte[] as base64; lists as arrays; records (the API's plain-data classes) as
/// objects keyed by property name; API interfaces (IMachine, IMedium, ...) as integer handles.
/// No reflection-based serializer is involved, so start-up stays cheap.
/// </summary>
public static class Codec
{
    private enum Kind { String, Bool, Int32, UInt32, Int64, UInt64, Double, Guid, DateTime, Enum, Bytes, Nullable, List, Record, Interface, Object }

    private sealed record TypeInfo(Kind Kind, Type? Element, ConstructorInfo? Ctor, ParameterInfo[]? Params, PropertyInfo[]? Props);

    private static readonly ConcurrentDictionary<Type, TypeInfo> s_types = new();

    /// <summary>Whether <paramref name="t"/> is an interface of the Main API (passed by handle).</summary>
    public static bool IsApiInterface(Type t) => t.IsInterface && t.Namespace == typeof(IVirtualBox).Namespace;

    private static TypeInfo Info(Type t) => s_types.GetOrAdd(t, Classify);

    private static TypeInfo Classify(Type t)
    {
        if (t == typeof(string)) return new(Kind.String, null, null, null, null);
        if (t == typeof(bool)) return new(Kind.Bool, null, null, null, null);
        if (t == typeof(int) || t == typeof(short) || t == typeof(byte)) return new(Kind.Int32, null, null, null, null);
        if (t == typeof(uint) || t == typeof(ushort)) return new(Kind.UInt32, null, null, null, null);
        if (t == typeof(long)) return new(Kind.Int64, null, null, null, null);
        if (t == typeof(ulong)) return new(Kind.UInt64, null, null, null, null);
        if (t == typeof(double) || t == typeof(float)) return new(Kind.Double, null, null, null, null);
        if (t == typeof(Guid)) return new(Kind.Guid, null, null, null, null);
        if (t == typeof(DateTime)) return new(Kind.DateTime, null, null, null, null);
        if (t == typeof(byte[])) return new(Kind.Bytes, null, null, null, null);
        if (t.IsEnum) return new(Kind.Enum, null, null, null, null);
        if (Nullable.GetUnderlyingType(t) is Type under) return new(Kind.Nullable, under, null, null, null);
        if (t.IsArray) return new(Kind.List, t.GetElementType(), null, null, null);
        if (t.IsGenericType && typeof(IEnumerable).IsAssignableFrom(t))
            return new(Kind.List, t.GetGenericArguments()[0], null, null, null);
        if (IsApiInterface(t)) return new(Kind.Interface, null, null, null, null);
        if (t == typeof(object)) return new(Kind.Object, null, null, null, null);
        if (t.IsClass && t.Namespace == typeof(IVirtualBox).Namespace)
        {
            ConstructorInfo ctor = t.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
            ParameterInfo[] ps = ctor.GetParameters();
            var props = new PropertyInfo[ps.Length];
            for (int i = 0; i < ps.Length; i++)
                props[i] = t.GetProperty(ps[i].Name!, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)
                    ?? throw new InvalidOperationException($"{t.Name}: constructor parameter {ps[i].Name} has no property");
            return new(Kind.Record, null, ctor, ps, props);
        }
        throw new NotSupportedException($"The type {t.FullName} cannot cross the VBoxSVC protocol");
    }

    /// <summary>Writes <paramref name="value"/> as <paramref name="declared"/> (client arguments may pass their runtime type).</summary>
    public static void Write(JsonWriter w, object? value, Type declared, IRefWriter refs)
    {
        if (value is null)
        {
            w.Null();
            return;
        }
        TypeInfo info = Info(declared);
        switch (info.Kind)
        {
            case Kind.String: w.String((string)value); break;
            case Kind.Bool: w.Bool((bool)value); break;
            case Kind.Int32: w.Number(Convert.ToInt32(value, CultureInfo.InvariantCulture)); break;
            case Kind.UInt32: w.Number(Convert.ToUInt32(value, CultureInfo.InvariantCulture)); break;
            case Kind.Int64: w.Number((long)value); break;
            case Kind.UInt64: w.Number((ulong)value); break;
            case Kind.Double: w.Number(Convert.ToDouble(value, CultureInfo.InvariantCulture)); break;
            case Kind.Guid: w.String(((Guid)value).ToString("D")); break;
            case Kind.DateTime:
                {
                    var d = (DateTime)value;
                    w.String((d.Kind == DateTimeKind.Local ? d.ToUniversalTime() : DateTime.SpecifyKind(d, DateTimeKind.Utc)).ToString("O", CultureInfo.InvariantCulture));
                    break;
                }
            case Kind.Enum: w.Number(Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case Kind.Bytes: w.Base64((byte[])value); break;
            case Kind.Nullable: Write(w, value, info.Element!, refs); break;
            case Kind.List:
                w.StartArray();
                foreach (object? item in (IEnumerable)value)
                    Write(w, item, info.Element!, refs);
                w.EndArray();
                break;
            case Kind.Interface: w.Number(refs.HandleOf(value, declared)); break;
            case Kind.Record:
                w.StartObject();
                for (int i = 0; i < info.Props!.Length; i++)
                {
                    w.Name(info.Props[i].Name);
                    Write(w, info.Props[i].GetValue(value), info.Props[i].PropertyType, refs);
                }
                w.EndObject();
                break;
            case Kind.Object:
                {
                    Type rt = value.GetType();
                    if (rt == typeof(object))
                        throw new NotSupportedException("A bare object cannot cross the VBoxSVC protocol");
                    Write(w, value, RuntimeDeclared(value), refs);
                    break;
                }
        }
    }

    /// <summary>The type to encode a client argument as: API proxies by their interface, others by their own type.</summary>
    public static Type RuntimeDeclared(object value)
    {
        Type rt = value.GetType();
        if (Info2(rt) is { } known)
            return known;
        foreach (Type i in rt.GetInterfaces())
            if (IsApiInterface(i))
                return i;
        return rt;
    }

    private static Type? Info2(Type rt)
    {
        try { return Info(rt).Kind == Kind.Object ? null : rt; }
        catch (NotSupportedException) { return null; }
    }

    public static object? Read(JNode e, Type t, IRefReader refs)
    {
        if (e.IsNull)
        {
            if (t.IsValueType && Nullable.GetUnderlyingType(t) == null)
                throw new FormatException($"null is not a valid {t.Name}");
            return null;
        }
        TypeInfo info = Info(t);
        switch (info.Kind)
        {
            case Kind.String: return e.GetString();
            case Kind.Bool: return e.GetBool();
            case Kind.Int32: return Convert.ChangeType(e.GetInt32(), t, CultureInfo.InvariantCulture);
            case Kind.UInt32: return Convert.ChangeType(e.GetUInt32(), t, CultureInfo.InvariantCulture);
            case Kind.Int64: return e.GetInt64();
            case Kind.UInt64: return e.GetUInt64();
            case Kind.Double: return Convert.ChangeType(e.GetDouble(), t, CultureInfo.InvariantCulture);
            case Kind.Guid: return Guid.Parse(e.GetString()!);
            case Kind.DateTime: return DateTime.Parse(e.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind).ToUniversalTime();
            case Kind.Enum: return Enum.ToObject(t, e.GetInt64());
            case Kind.Bytes: return e.GetBytesFromBase64();
            case Kind.Nullable: return Read(e, info.Element!, refs);
            case Kind.List:
                {
                    IReadOnlyList<JNode> items = e.Items;
                    int n = items.Count;
                    Array arr = Array.CreateInstance(info.Element!, n);
                    for (int i = 0; i < n; i++)
                        arr.SetValue(Read(items[i], info.Element!, refs), i);
                    if (t.IsArray)
                        return arr;
                    // IReadOnlyList<T>/IEnumerable<T>/List<T>: a List<T> satisfies them all.
                    var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(info.Element!), n)!;
                    foreach (object? x in arr)
                        list.Add(x);
                    return list;
                }
            case Kind.Interface: return refs.ObjectOf(e.GetInt64(), t);
            case Kind.Record:
                {
                    var args = new object?[info.Params!.Length];
                    for (int i = 0; i < args.Length; i++)
                    {
                        ParameterInfo p = info.Params[i];
                        if (e[info.Props![i].Name] is JNode v)
                            args[i] = Read(v, p.ParameterType, refs);
                        else if (p.HasDefaultValue)
                            args[i] = p.DefaultValue;
                        else
                            args[i] = p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType) : null;
                    }
                    return info.Ctor!.Invoke(args);
                }
            default:
                throw new NotSupportedException($"Cannot read a {t.Name} from the VBoxSVC protocol");
        }
    }
}
