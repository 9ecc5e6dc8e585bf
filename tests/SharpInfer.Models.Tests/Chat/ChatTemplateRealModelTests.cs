using SharpInfer.Models.Chat;
using static SharpInfer.Models.Tests.Chat.RealChatTemplates;

namespace SharpInfer.Models.Tests.Chat;

/// <summary>Each real template renders the prompt its model card documents for the same four-turn conversation.</summary>
public class ChatTemplateRealModelTests
{
    private const string System = "You are a helpful assistant.";
    private const string FirstUser = "Hello!";
    private const string Reply = "Hi there! How can I help?";
    private const string SecondUser = "What is 2+2?";

    private static readonly ChatMessage[] Conversation =
    [
        new("system", System),
        new("user", FirstUser),
        new("assistant", Reply),
        new("user", SecondUser),
    ];

    private static readonly ChatMessage[] WithoutSystem = Conversation[1..];

    [Fact]
    public void Llama2ChatPutsTheSystemPromptInsideTheFirstInstruction()
    {
        var prompt = ChatTemplate.Parse(Llama2Chat).Render(Conversation, bosToken: "<s>", eosToken: "</s>");
        Assert.Equal(
            $"<s>[INST] <<SYS>>\n{System}\n<</SYS>>\n\n{FirstUser} [/INST] {Reply} </s><s>[INST] {SecondUser} [/INST]",
            prompt);
    }

    [Fact]
    public void Llama3InstructUsesHeadersAndEotTokens()
    {
        var prompt = ChatTemplate.Parse(Llama3Instruct).Render(Conversation, bosToken: "<|begin_of_text|>", eosToken: "<|eot_id|>");
        Assert.Equal(
            "<|begin_of_text|>" +
            $"<|start_header_id|>system<|end_header_id|>\n\n{System}<|eot_id|>" +
            $"<|start_header_id|>user<|end_header_id|>\n\n{FirstUser}<|eot_id|>" +
            $"<|start_header_id|>assistant<|end_header_id|>\n\n{Reply}<|eot_id|>" +
            $"<|start_header_id|>user<|end_header_id|>\n\n{SecondUser}<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void Llama3InstructOmitsTheAssistantHeaderWithoutGenerationPrompt()
    {
        var prompt = ChatTemplate.Parse(Llama3Instruct).Render(Conversation, addGenerationPrompt: false, bosToken: "<|begin_of_text|>");
        Assert.EndsWith($"{SecondUser}<|eot_id|>", prompt);
    }

    [Fact]
    public void Llama31InstructAddsTheKnowledgeCutoffToTheSystemTurn()
    {
        var prompt = ChatTemplate.Parse(Llama31Instruct).Render(Conversation, bosToken: "<|begin_of_text|>", eosToken: "<|eot_id|>");
        Assert.Equal(
            "<|begin_of_text|>" +
            "<|start_header_id|>system<|end_header_id|>\n\n" +
            $"Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n{System}<|eot_id|>" +
            $"<|start_header_id|>user<|end_header_id|>\n\n{FirstUser}<|eot_id|>" +
            $"<|start_header_id|>assistant<|end_header_id|>\n\n{Reply}<|eot_id|>" +
            $"<|start_header_id|>user<|end_header_id|>\n\n{SecondUser}<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void Llama31InstructWithoutSystemStillWritesAnEmptySystemTurn()
    {
        var prompt = ChatTemplate.Parse(Llama31Instruct).Render([new("user", "  Hi  ")], bosToken: "<|begin_of_text|>");
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void MistralV1WrapsUserTurnsInInstTags()
    {
        var prompt = ChatTemplate.Parse(MistralInstructV1).Render(WithoutSystem, bosToken: "<s>", eosToken: "</s>");
        Assert.Equal($"<s>[INST] {FirstUser} [/INST]{Reply}</s> [INST] {SecondUser} [/INST]", prompt);
    }

    [Fact]
    public void MistralV3PrependsTheSystemPromptToTheLastUserTurn()
    {
        var prompt = ChatTemplate.Parse(MistralInstructV3).Render(Conversation, bosToken: "<s>", eosToken: "</s>");
        Assert.Equal($"<s>[INST] {FirstUser}[/INST] {Reply}</s>[INST] {System}\n\n{SecondUser}[/INST]", prompt);
    }

    [Fact]
    public void MistralV3WithoutSystem()
    {
        var prompt = ChatTemplate.Parse(MistralInstructV3).Render(WithoutSystem, bosToken: "<s>", eosToken: "</s>");
        Assert.Equal($"<s>[INST] {FirstUser}[/INST] {Reply}</s>[INST] {SecondUser}[/INST]", prompt);
    }

    private static string ChatMl(string system) =>
        $"<|im_start|>system\n{system}<|im_end|>\n" +
        $"<|im_start|>user\n{FirstUser}<|im_end|>\n" +
        $"<|im_start|>assistant\n{Reply}<|im_end|>\n" +
        $"<|im_start|>user\n{SecondUser}<|im_end|>\n" +
        "<|im_start|>assistant\n";

    [Theory]
    [InlineData(nameof(Qwen2Instruct))]
    [InlineData(nameof(Qwen25Instruct))]
    [InlineData(nameof(SmolLMInstruct))]
    [InlineData(nameof(SmolLM2Instruct))]
    public void ChatMlFamilyRendersTheSystemTurnAsGiven(string name)
    {
        var source = All.Single(template => template.Name == name).Source;
        Assert.Equal(ChatMl(System), ChatTemplate.Parse(source).Render(Conversation));
    }

    [Theory]
    [InlineData(nameof(Qwen2Instruct), "You are a helpful assistant.")]
    [InlineData(nameof(Qwen25Instruct), "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")]
    [InlineData(nameof(SmolLM2Instruct), "You are a helpful AI assistant named SmolLM, trained by Hugging Face")]
    public void ChatMlFamilyInsertsTheDefaultSystemPrompt(string name, string defaultSystem)
    {
        var source = All.Single(template => template.Name == name).Source;
        Assert.Equal(ChatMl(defaultSystem), ChatTemplate.Parse(source).Render(WithoutSystem));
    }

    [Fact]
    public void BuiltInChatMlMatchesTheChatMlFormat()
    {
        Assert.Equal(ChatMl(System), ChatTemplate.ChatMl.Render(Conversation));
        Assert.Equal(ChatMl(System)[..^"<|im_start|>assistant\n".Length], ChatTemplate.ChatMl.Render(Conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void ZephyrReliesOnTrimBlocksForItsLineLayout()
    {
        var prompt = ChatTemplate.Parse(Zephyr).Render(Conversation, eosToken: "</s>");
        Assert.Equal(
            $"<|system|>\n{System}</s>\n<|user|>\n{FirstUser}</s>\n<|assistant|>\n{Reply}</s>\n<|user|>\n{SecondUser}</s>\n<|assistant|>\n",
            prompt);
    }

    [Theory]
    [InlineData(nameof(Llama2Chat), "Conversation roles must alternate user/assistant/user/assistant/...")]
    [InlineData(nameof(MistralInstructV1), "Conversation roles must alternate user/assistant/user/assistant/...")]
    [InlineData(nameof(MistralInstructV3), "conversation roles must alternate user/assistant/user/assistant/...")]
    public void AlternationViolationRaisesTheTemplatesMessage(string name, string message)
    {
        var template = ChatTemplate.Parse(All.Single(t => t.Name == name).Source);
        ChatMessage[] twoUsers = [new("user", "a"), new("user", "b")];
        var error = Assert.Throws<ChatTemplateException>(() => template.Render(twoUsers));
        Assert.Contains(message, error.Message);
        Assert.Matches(@"^chat template \d+:\d+: ", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void MistralV1RejectsASystemMessage()
    {
        var template = ChatTemplate.Parse(MistralInstructV1);
        Assert.Throws<ChatTemplateException>(() => template.Render(Conversation));
    }

    [Fact]
    public void AllRealTemplatesRenderAnEmptyConversationOrFailCleanly()
    {
        foreach (var (_, source) in All)
        {
            var template = ChatTemplate.Parse(source);
            try
            {
                template.Render([]);
            }
            catch (ChatTemplateException)
            {
                // messages[0] of an empty list is undefined; templates that index it may fail, but only this way.
            }
        }
    }
}
