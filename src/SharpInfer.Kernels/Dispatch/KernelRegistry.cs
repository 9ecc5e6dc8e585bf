using System.Collections.Concurrent;
using SharpInfer.Kernels.Definitions;

namespace SharpInfer.Kernels.Dispatch;

/// <summary>
/// The dispatcher: solutions registered per operator, resolved per definition. The engine asks it for the kernel of a
/// definition (by name, or by op and axes as a <see cref="KernelShape"/>) and calls that; this is where apply() will
/// later put the best solution measured for each definition.
/// Policy: an entry of <see cref="ApplyTable"/> (definition name -> solution name) wins when that solution exists,
/// supports the shape and can run here; otherwise the solution of the widest ISA available on this CPU, ties broken by
/// priority. Resolutions are cached per definition name.
/// </summary>
public sealed class KernelRegistry
{
    private readonly List<KernelSolution> _solutions = [];
    private readonly ConcurrentDictionary<string, KernelSolution> _resolved = new(StringComparer.Ordinal);
    private readonly Func<Isa, bool> _isaAvailable;
    private IReadOnlyDictionary<string, string> _applyTable = new Dictionary<string, string>();

    /// <param name="isaAvailable">Which ISAs count as present (tests pass a narrower one); default: this CPU's.</param>
    public KernelRegistry(Func<Isa, bool>? isaAvailable = null) => _isaAvailable = isaAvailable ?? IsaSupport.IsAvailable;

    /// <summary>Every SharpInfer solution, on this CPU's ISAs.</summary>
    public static KernelRegistry Default { get; } = BuiltInSolutions.Register(new KernelRegistry());

    /// <summary>A registry with every SharpInfer solution.</summary>
    public static KernelRegistry CreateDefault(Func<Isa, bool>? isaAvailable = null) => BuiltInSolutions.Register(new KernelRegistry(isaAvailable));

    /// <summary>Definition name -> solution name overrides (the later apply() fills this). Setting it clears the cache.</summary>
    public IReadOnlyDictionary<string, string> ApplyTable
    {
        get => _applyTable;
        set { _applyTable = value ?? throw new ArgumentNullException(nameof(value)); _resolved.Clear(); }
    }

    public IReadOnlyList<KernelSolution> All => _solutions;

    public KernelRegistry Register(KernelSolution solution)
    {
        if (_solutions.Any(s => s.Op == solution.Op && s.Name == solution.Name)) throw new ArgumentException($"solution {solution.Name} of {solution.Op} registered twice");
        _solutions.Add(solution);
        _resolved.Clear();
        return this;
    }

    public IReadOnlyList<KernelSolution> Solutions(OpKind op) => _solutions.Where(s => s.Op == op).ToList();

    /// <summary>Solutions that support <paramref name="shape"/>, runnable here or not, best first.</summary>
    public IReadOnlyList<KernelSolution> Candidates(KernelShape shape) =>
        _solutions.Where(s => s.Supports(shape)).OrderByDescending(s => _isaAvailable(s.Isa)).ThenByDescending(s => s.Isa).ThenByDescending(s => s.Priority).ToList();

    /// <summary>Supported solutions that can run on this machine, best first (the first is what <see cref="Resolve(KernelShape)"/> returns without an override).</summary>
    public IReadOnlyList<KernelSolution> Runnable(KernelShape shape) => Candidates(shape).Where(s => _isaAvailable(s.Isa)).ToList();

    public bool IsAvailable(Isa isa) => _isaAvailable(isa);

    public KernelSolution Resolve(string definitionName) => Resolve(DefinitionNames.Parse(definitionName));

    public KernelSolution Resolve(KernelShape shape) => _resolved.GetOrAdd(shape.Name, _ => Choose(shape));

    /// <summary>The chosen solution's kernel as its delegate type.</summary>
    public T Resolve<T>(KernelShape shape) where T : Delegate => Resolve(shape).Get<T>();

    private KernelSolution Choose(KernelShape shape)
    {
        var runnable = Runnable(shape);
        if (_applyTable.TryGetValue(shape.Name, out string? wanted) && runnable.FirstOrDefault(s => s.Name == wanted) is { } chosen) return chosen;
        return runnable.Count > 0 ? runnable[0] : throw new NotSupportedException($"no solution for {shape.Name} runs on this CPU ({IsaSupport.Describe()})");
    }
}
