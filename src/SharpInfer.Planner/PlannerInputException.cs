namespace SharpInfer.Planner;

/// <summary>
/// Bad input to the planner (unknown preset, impossible parallel sizes, unreadable model file).
/// The CLI prints its message as one line and exits with code 2, so the message must stand alone.
/// </summary>
public sealed class PlannerInputException(string message, Exception? inner = null) : Exception(message, inner);
