namespace SharpInfer.Planner;

/// <summary>Memory of one GPU of pipeline stage <see cref="Stage"/> (all figures in bytes).</summary>
/// <param name="Stage">Stage index, 0 = first.</param>
/// <param name="Parameters">Parameters held by one GPU of this stage (after the t-way split).</param>
/// <param name="Weights">16-bit weights, 2 bytes per parameter.</param>
/// <param name="Gradients">fp32 gradients, 4 bytes per parameter.</param>
/// <param name="OptimizerState">fp32 master weights and Adam m, v: 12 bytes per parameter, or 12/d with a distributed optimizer.</param>
/// <param name="InFlightMicroBatches">Micro-batches whose activations are resident at the peak (interleaving factor included).</param>
/// <param name="Activations">Resident activations at the peak.</param>
/// <param name="Reserved">CUDA context, communication buffers and fragmentation kept aside.</param>
public sealed record StageMemory(
    int Stage, double Parameters, double Weights, double Gradients, double OptimizerState,
    double InFlightMicroBatches, double Activations, double Reserved)
{
    public double ModelStates => Weights + Gradients + OptimizerState;
    public double Total => ModelStates + Activations + Reserved;
}
