using SharpInfer.Engine.Sampling;

namespace SharpInfer.Engine.Tests.Sampling;

public class SamplerTests
{
    private static float[] Logits(int seed, int n = 200)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 10)).ToArray();
    }

    private static int[] Draw(SamplingParameters p, float[] logits, int count)
    {
        var s = new Sampler(p);
        return Enumerable.Range(0, count).Select(_ => s.Sample((float[])logits.Clone(), [])).ToArray();
    }

    [Fact]
    public void GreedyTakesTheFirstLargestLogitEvenWhenHuge()
    {
        float[] logits = [1e30f, 3e38f, 3e38f, -1f];
        Assert.Equal(1, new Sampler(SamplingParameters.Greedy).Sample(logits, []));
    }

    [Fact]
    public void GreedyTakesTheFirstOfTiedMaximaAnywhereInALongRow()
    {
        var rng = new Random(5);
        foreach (int n in new[] { 1, 7, 16, 33, 49152 })
            for (int repeat = 0; repeat < 3; repeat++)
            {
                var logits = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 20 - 30)).ToArray();
                int first = rng.Next(n), second = Math.Min(n - 1, first + 1 + rng.Next(40));
                logits[first] = logits[second] = 5f; // a tie, past vector boundaries for the long rows
                int expected = 0;
                for (int i = 1; i < n; i++) if (logits[i] > logits[expected]) expected = i;
                Assert.Equal(first, expected);
                Assert.Equal(expected, new Sampler(SamplingParameters.Greedy).Sample((float[])logits.Clone(), []));
            }
    }

    [Fact]
    public void TheSameSeedGivesTheSameDrawsAndAnotherSeedDoesNot()
    {
        var logits = Logits(1);
        var p = new SamplingParameters { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = 7 };
        Assert.Equal(Draw(p, logits, 300), Draw(p, logits, 300));
        Assert.NotEqual(Draw(p, logits, 300), Draw(p with { Seed = 8 }, logits, 300));
    }

    [Fact]
    public void TopKKeepsOnlyTheKBest()
    {
        var logits = Logits(2);
        var best = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Take(5).ToHashSet();
        var draws = Draw(new SamplingParameters { Temperature = 5, TopK = 5, TopP = 1, MinP = 0, Seed = 1 }, logits, 500);
        Assert.All(draws, d => Assert.Contains(d, best));
        Assert.True(draws.Distinct().Count() >= 4, "high temperature should spread over the top 5");
    }

    [Fact]
    public void TopPKeepsTheSmallestSetReachingP()
    {
        // Probabilities 0.5, 0.3, 0.2 (logits are log-probabilities): top-p 0.7 keeps the first two.
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f)];
        var draws = Draw(new SamplingParameters { Temperature = 1, TopK = 0, TopP = 0.7f, MinP = 0, Seed = 3 }, logits, 2000);
        Assert.DoesNotContain(2, draws);
        double share0 = draws.Count(d => d == 0) / 2000.0;
        Assert.InRange(share0, 0.5 / 0.8 - 0.05, 0.5 / 0.8 + 0.05); // renormalised 0.625
    }

    [Fact]
    public void MinPDropsUnlikelyTokens()
    {
        float[] logits = [MathF.Log(0.6f), MathF.Log(0.35f), MathF.Log(0.05f)];
        var draws = Draw(new SamplingParameters { Temperature = 1, TopK = 0, TopP = 1, MinP = 0.1f, Seed = 4 }, logits, 2000);
        Assert.DoesNotContain(2, draws); // 0.05 < 0.1 * 0.6
        Assert.Contains(1, draws);
    }

    [Fact]
    public void PenaltiesLowerTheLogitsOfSeenTokens()
    {
        float[] logits = [2f, -2f, 1.9f];
        var s = new Sampler(new SamplingParameters { Temperature = 0, RepetitionPenalty = 2f, PresencePenalty = 0.5f, FrequencyPenalty = 0.25f });
        int next = s.Sample(logits, [0, 0, 1]);
        Assert.Equal(2, next);
        Assert.Equal(2f / 2 - (2 * 0.25f + 0.5f), logits[0], 5);
        Assert.Equal(-2f * 2 - (0.25f + 0.5f), logits[1], 5);
        Assert.Equal(1.9f, logits[2]);
    }

    [Theory]
    [InlineData(-1f, 40, 0.9f, 0f)]
    [InlineData(1f, -1, 0.9f, 0f)]
    [InlineData(1f, 40, 0f, 0f)]
    [InlineData(1f, 40, 1.5f, 0f)]
    [InlineData(1f, 40, 0.9f, 2f)]
    public void InvalidSettingsAreRejected(float t, int k, float p, float minP)
    {
        var settings = new SamplingParameters { Temperature = t, TopK = k, TopP = p, MinP = minP };
        Assert.NotNull(settings.Validate());
        Assert.Throws<ArgumentException>(() => new Sampler(settings));
    }
}
