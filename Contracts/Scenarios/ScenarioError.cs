namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// Why a scenario file was refused: where (1-based line and column of the offending node), which
/// field (a path such as <c>programs.exec_trace.fire.rate</c> or <c>fleet[0].cpus</c>) and why.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ScenarioError
{
    [Id(0)] public string File { get; init; } = "";
    [Id(1)] public int Line { get; init; }
    [Id(2)] public int Column { get; init; }
    [Id(3)] public string Field { get; init; } = "";
    [Id(4)] public string Message { get; init; } = "";

    /// <summary><c>file:line:column: field: message</c> (the field part is left out when empty).</summary>
    public override string ToString() =>
        Field.Length == 0 ? $"{File}:{Line}:{Column}: {Message}" : $"{File}:{Line}:{Column}: {Field}: {Message}";
}

/// <summary>Thrown by the scenario parser and path setter; nothing of the file is returned with it.</summary>
public sealed class ScenarioException : Exception
{
    /// <summary>The process exit code for a refused scenario file.</summary>
    public const int ExitCode = 2;

    public ScenarioException(ScenarioError error, Exception? inner = null) : base(error.ToString(), inner) => Error = error;

    public ScenarioError Error { get; }
}
