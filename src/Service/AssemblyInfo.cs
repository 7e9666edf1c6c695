// SharpBox runs on Linux hosts only; this also satisfies the platform analyzer for Unix-only APIs.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Service.Tests")]
