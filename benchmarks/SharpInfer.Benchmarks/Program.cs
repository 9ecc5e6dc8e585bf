using SharpInfer.Benchmarks;

return args.Length > 0 && args[0] == "golden" ? GoldenCommand.Run(args[1..])
    : args.Length > 0 && args[0] == "compare" ? CompareCommand.Run(args[1..])
    : Usage();

static int Usage()
{
    Console.Error.WriteLine("""
        usage: SharpInfer.Benchmarks golden <model.gguf> [--out FILE] [--tokens N] [--threads N] [--ctx N] [--logits N] [--avx none|avx|avx2|avx512]
                                      [--kv f32|f16] [--fa off|on|auto] [--verbose]
               SharpInfer.Benchmarks compare [--shapes smollm2-135m,tinyllama-1.1b] [--types f32,f16,q8_0,q4_0] [--threads 1,2]
                                      [--pp 128] [--tg 64] [--runs 3] [--seed 1234] [--models-dir DIR] [--json FILE] [--markdown FILE]
                                      [--avx none|avx|avx2|avx512] [--verbose]

          golden   Run llama.cpp (through LLamaSharp, CPU backend) with plain argmax decoding on a fixed
                   prompt set and write the prompt ids, generated ids, llama.cpp-detokenized text and the
                   first logits of "Once upon a time" as JSON (default: golden/<model>-greedy.json next
                   to this project). Defaults: 200 new tokens, 1 thread, context 512, f32 KV cache, flash
                   attention off (pure f32 numerics); --kv f16 --fa auto gives llama.cpp's own defaults.

          compare  SharpInfer against llama.cpp on the same random-weight GGUF files (written once by SharpInfer's
                   writer into --models-dir, default <temp>/sharpinfer-bench-models, and reused), batch 1: prompt
                   processing of --pp tokens and generation of --tg tokens, per shape x type x thread count; a
                   warm-up, then --runs runs alternating the two engines; medians, as a table with the ratio
                   SharpInfer / llama.cpp (--markdown and --json write it to files too). llama.cpp runs with
                   its defaults (f16 KV cache, flash attention auto) apart from threads, context and batch size.
        """);
    return 2;
}
