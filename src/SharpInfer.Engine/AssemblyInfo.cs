namespace SharpInfer.Engine;
