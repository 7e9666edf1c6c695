// SharpBox runs on Linux hosts only (Main is marked so too).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
