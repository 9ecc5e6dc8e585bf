using SharpInfer.Benchmarks;

return args.Length > 0 && args[0] == "golden"
    ? GoldenCommand.Run(args[1..])
    : Usage();

static int Usage()
{
    Console.Error.WriteLine("""
        usage: SharpInfer.Benchmarks golden <model.gguf> [--out FILE] [--tokens N] [--threads N] [--ctx N] [--logits N] [--avx none|avx|avx2|avx512]
                                      [--kv f32|f16] [--fa off|on|auto] [--verbose]

          golden   Run llama.cpp (through LLamaSharp, CPU backend) with plain argmax decoding on a fixed
                   prompt set and write the prompt ids, generated ids, llama.cpp-detokenized text and the
                   first logits of "Once upon a time" as JSON (default: golden/<model>-greedy.json next
                   to this project). Defaults: 200 new tokens, 1 thread, context 512, f32 KV cache, flash
                   attention off (pure f32 numerics); --kv f16 --fa auto gives llama.cpp's own defaults.
        """);
    return 2;
}
