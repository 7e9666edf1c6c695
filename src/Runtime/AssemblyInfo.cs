// SharpBox runs on Linux hosts only; this also satisfies the platform analyzer for Unix-only APIs.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
