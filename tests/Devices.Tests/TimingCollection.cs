namespace SharpBox.Devices.Tests;

/// <summary>
/// Tests that count timer events against the host clock run alone: on a 2-core machine, parallel test
/// classes would steal the CPU the timer thread needs and make the counts meaningless.
/// </summary>
[CollectionDefinition("Timing", DisableParallelization = true)]
public sealed class TimingCollection;
