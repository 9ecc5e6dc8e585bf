namespace SharpInfer.Kernels;
