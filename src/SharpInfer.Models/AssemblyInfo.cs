namespace SharpInfer.Models;
