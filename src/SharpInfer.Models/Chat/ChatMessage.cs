namespace SharpInfer.Models.Chat;

/// <summary>One turn of a chat conversation as the OpenAI-style API supplies it ("system", "user", "assistant", ...).</summary>
public sealed record ChatMessage(string Role, string Content);
