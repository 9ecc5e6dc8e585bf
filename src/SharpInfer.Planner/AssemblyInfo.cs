namespace SharpInfer.Planner;
