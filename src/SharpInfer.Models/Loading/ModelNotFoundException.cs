namespace SharpInfer.Models.Loading;

/// <summary>A model could not be found or fetched. The message says what to pass instead.</summary>
public sealed class ModelNotFoundException(string message) : Exception(message);
