[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("SharpInfer.Engine.Tests")]
