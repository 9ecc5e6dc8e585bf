using SharpInfer.Kernels.Attention;

namespace SharpInfer.Kernels.Tests.Attention;

public class AttentionStateTests
{
    [Fact]
    public void MergingTwoHalvesGivesTheWholeSoftmax()
    {
        // Keys with logits (base 2) l and values v: the state over all keys equals the merge of the two halves' states.
        double[] logits = [0.5, -1, 3, 2.25, -0.75];
        float[][] values = [[1, 2], [3, -1], [0, 4], [-2, 1], [5, 5]];
        (float[] V, float S) State(int from, int to)
        {
            double max = logits[from..to].Max(), sum = 0;
            var v = new double[2];
            for (int j = from; j < to; j++) { double w = Math.Pow(2, logits[j] - max); sum += w; v[0] += w * values[j][0]; v[1] += w * values[j][1]; }
            return ([(float)(v[0] / sum), (float)(v[1] / sum)], (float)(max + Math.Log2(sum)));
        }
        var (va, sa) = State(0, 2);
        var (vb, sb) = State(2, 5);
        var (vAll, sAll) = State(0, 5);
        AttentionState.Merge(va, ref sa, vb, sb);
        Assert.Equal(sAll, sa, 5);
        Assert.Equal(vAll[0], va[0], 5);
        Assert.Equal(vAll[1], va[1], 5);
    }

    [Fact]
    public void MergeIsCommutativeWithinRounding()
    {
        float[] a = [1, -2, 3], b = [0.5f, 4, -1];
        float sa = 2.5f, sb = 1.25f;
        var ab = a.ToArray(); float sab = sa;
        AttentionState.Merge(ab, ref sab, b, sb);
        var ba = b.ToArray(); float sba = sb;
        AttentionState.Merge(ba, ref sba, a, sa);
        Assert.Equal(sab, sba, 6);
        for (int i = 0; i < 3; i++) Assert.Equal(ab[i], ba[i], 5);
        Assert.NotEqual(a[0], ab[0]); // it did merge
    }

    [Fact]
    public void MergingWithTheEmptyStateIsIdentityAndTwoEmptiesStayEmpty()
    {
        float[] v = [1, 2, 3], empty = [7, 7, 7]; // an empty state's v is ignored
        float s = 0.75f;
        AttentionState.Merge(v, ref s, empty, float.NegativeInfinity);
        Assert.Equal([1f, 2f, 3f], v);
        Assert.Equal(0.75f, s);
        float[] e = [9, 9, 9];
        float se = float.NegativeInfinity;
        AttentionState.Merge(e, ref se, [1, 1, 1], float.NegativeInfinity);
        Assert.Equal([0f, 0f, 0f], e);
        Assert.True(float.IsNegativeInfinity(se));
    }

    [Fact]
    public void MergeStatesMergesEveryRow()
    {
        float[] v = [1, 2, 3, 4], s = [0, float.NegativeInfinity], vo = [3, 4, 5, 6], so = [0, 1];
        AttentionState.MergeStates(v, s, vo, so, headDim: 2);
        Assert.Equal([2f, 3f, 5f, 6f], v); // row 0: equal weights; row 1: only the other state
        Assert.Equal(1f, s[0], 6);
        Assert.Equal(1f, s[1], 6);
        Assert.Throws<ArgumentException>(() => AttentionState.MergeStates(v, s, vo, so, headDim: 3));
    }
}
