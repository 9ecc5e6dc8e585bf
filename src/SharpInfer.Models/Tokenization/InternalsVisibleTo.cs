using System.Runtime.CompilerServices;

// The pre-tokenizer's word splits are checked directly by the tests.
[assembly: InternalsVisibleTo("SharpInfer.Models.Tests")]
