// SharpBox runs on Linux hosts only; this also satisfies the platform analyzer for the KVM engine.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
