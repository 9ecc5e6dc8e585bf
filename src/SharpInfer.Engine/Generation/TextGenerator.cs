using System.Diagnostics;
using System.Text;
using SharpInfer.Engine.Kv;
using SharpInfer.Engine.Sampling;
using SharpInfer.Kernels.Attention;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Engine.Generation;

/// <summary>
/// Generates text for one request at a time over a model, its tokenizer and a KV page pool sized for the context.
/// (Many requests at once is the scheduler's job; this is the in-process, single-stream API.)
/// </summary>
public sealed class TextGenerator : IDisposable
{
    private readonly LlamaModel _model;
    private readonly KvPagePool _pool;
    private readonly float[] _logits;

    public ITokenizer Tokenizer { get; }
    public int ContextLength { get; }

    /// <param name="contextLength">Tokens of context to reserve KV pages for (0 = the model's, at most 4096).</param>
    public TextGenerator(LlamaModel model, ITokenizer tokenizer, int contextLength = 0, int pageSize = 16)
    {
        _model = model;
        Tokenizer = tokenizer;
        ContextLength = contextLength > 0 ? Math.Min(contextLength, model.Config.ContextLength) : Math.Min(model.Config.ContextLength, 4096);
        _pool = new KvPagePool(model.CreateKvCache((ContextLength + pageSize - 1) / pageSize, pageSize));
        _logits = new float[model.Config.VocabSize];
    }

    public IReadOnlyList<int> Encode(string prompt, bool addSpecialTokens = true) => Tokenizer.Encode(prompt, addSpecialTokens);

    /// <summary>Streams the continuation of <paramref name="prompt"/>.</summary>
    public IEnumerable<GenerationUpdate> Generate(string prompt, GenerationOptions options, CancellationToken cancellation = default) =>
        Generate(Encode(prompt, options.AddSpecialTokens), options, cancellation);

    /// <summary>Streams the continuation of a tokenized prompt. The last update carries the stats.</summary>
    public IEnumerable<GenerationUpdate> Generate(IReadOnlyList<int> promptTokens, GenerationOptions options, CancellationToken cancellation = default)
    {
        if (promptTokens.Count == 0) throw new ArgumentException("the prompt has no tokens");
        if (promptTokens.Count >= ContextLength) throw new PromptTooLongException(promptTokens.Count, ContextLength);
        var sampler = new Sampler(options.Sampling);
        var decoder = new IncrementalDecoder(Tokenizer);
        // The continuation is decoded after the prompt, so SentencePiece's leading space of the first generated
        // token is a real space: prime the decoder with the prompt and discard what it says.
        // (A prompt encoded from a string always ends on a whole character, so nothing stays held back.)
        foreach (int t in promptTokens) decoder.Push(t);
        var stops = new StopMatcher(options.Stop);
        int maxTokens = Math.Min(options.MaxTokens, ContextLength - promptTokens.Count);
        var history = new List<int>(promptTokens.Count + maxTokens);
        history.AddRange(promptTokens);
        var pages = new List<int>();
        var clock = Stopwatch.StartNew();
        TimeSpan promptTime = TimeSpan.Zero;
        int generated = 0;
        var finish = FinishReason.Length;
        try
        {
            int[] input = [.. promptTokens];
            int[] next = new int[1], nextIndptr = [0, 1]; // decode steps reuse these instead of allocating per token
            int[] indptr = [0, input.Length];
            while (generated < maxTokens)
            {
                if (cancellation.IsCancellationRequested) { finish = FinishReason.Cancelled; break; }
                int length = history.Count;
                if (!_pool.TryAllocate(_pool.PagesFor(length) - pages.Count, pages))
                    throw new InvalidOperationException("KV pages ran out inside the reserved context"); // sized for ContextLength: cannot happen
                var table = PageTable.ForSingle(pages, length, _pool.PageSize);
                _model.Forward(input, indptr, table, _pool.Cache, _logits);
                if (generated == 0) { promptTime = clock.Elapsed; clock.Restart(); }
                int token = sampler.Sample(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history));
                generated++;
                history.Add(token);
                if (Tokenizer.IsEndOfGeneration(token)) { finish = FinishReason.Stop; break; }
                string text = stops.Append(decoder.Push(token), out bool stopped);
                yield return new GenerationUpdate(text, token, null);
                if (stopped) { finish = FinishReason.Stop; break; }
                next[0] = token;
                input = next;
                indptr = nextIndptr;
            }
            if (finish != FinishReason.Stop)
            {
                string rest = stops.Append(decoder.Flush(), out _) + stops.Flush();
                if (rest.Length > 0) yield return new GenerationUpdate(rest, null, null);
            }
        }
        finally
        {
            _pool.Free(pages);
        }
        // The first sampled token comes out of the prompt pass; decode speed counts the tokens after it.
        yield return new GenerationUpdate("", null, new GenerationStats(promptTokens.Count, generated, promptTime,
            generated > 1 ? clock.Elapsed : TimeSpan.Zero, finish));
    }

    /// <summary>Runs a whole generation and returns the text and stats.</summary>
    public (string Text, GenerationStats Stats) GenerateText(string prompt, GenerationOptions options, CancellationToken cancellation = default)
    {
        var sb = new StringBuilder();
        GenerationStats? stats = null;
        foreach (var u in Generate(prompt, options, cancellation)) { sb.Append(u.Text); stats = u.Final ?? stats; }
        return (sb.ToString(), stats!);
    }

    public void Dispose() => _pool.Dispose();
}
