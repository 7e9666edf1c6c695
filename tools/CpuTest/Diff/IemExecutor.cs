namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>Creates the executor that runs cases on the software CPU.</summary>
static class IemExecutorFactory
{
    public static ICaseExecutor Create() =>
        throw new NotSupportedException("the software CPU (IEM) is not part of this build yet; 'diff --against native' checks the harness against the host alone");
}
