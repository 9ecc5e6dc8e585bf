namespace SharpInfer.Server.Chat;

/// <summary>
/// Turns chat messages into the prompt text the model was trained on. The GGUF chat-template renderer plugs in
/// here through a small adapter; the server knows nothing of template languages.
/// </summary>
public interface IChatPromptRenderer
{
    /// <param name="messages">Role ("system", "user", "assistant", ...) and text of each message, in order.</param>
    /// <param name="addGenerationPrompt">End with the opening of an assistant turn, so the model writes the reply.</param>
    string Render(IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt);
}

