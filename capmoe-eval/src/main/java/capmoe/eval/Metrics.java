package capmoe.eval;

import java.util.Random;
import java.util.function.ToDoubleFunction;

/** lm-eval's metric formulas (lm_eval/api/metrics.py). */
public final class Metrics {
    private Metrics() { }

    public static double mean(double[] xs) {
        double s = 0;
        for (double x : xs) s += x;
        return s / xs.length;
    }

    /** mean_stderr: the sample standard deviation (n-1) over sqrt(n); NaN (reported "N/A") for one sample. */
    public static double meanStderr(double[] xs) {
        int n = xs.length;
        if (n < 2) return Double.NaN;
        double mu = mean(xs);
        double ss = 0;
        for (double x : xs) ss += (x - mu) * (x - mu);
        return Math.sqrt(ss / (n - 1)) / Math.sqrt(n);
    }

    /** perplexity aggregation (lambada): exp(-mean(loglik)). */
    public static double perplexity(double[] loglik) {
        return Math.exp(-mean(loglik));
    }

    /** weighted_perplexity (word_perplexity, byte_perplexity): exp(-sum(loglik) / sum(weights)). */
    public static double weightedPerplexity(double[] loglik, long[] weights) {
        return Math.exp(-sum(loglik) / sum(weights));
    }

    /** bits_per_byte: -sum(loglik) / sum(bytes) / ln 2. */
    public static double bitsPerByte(double[] loglik, long[] bytes) {
        return -sum(loglik) / sum(bytes) / Math.log(2);
    }

    /**
     * Bootstrap standard error of a statistic (lm-eval bootstraps perplexity this way): the standard
     * deviation of the statistic over {@code iters} resamples with replacement, with a fixed seed.
     */
    public static double bootstrapStderr(double[] xs, ToDoubleFunction<double[]> statistic, int iters, long seed) {
        if (xs.length < 2) return Double.NaN;
        Random rnd = new Random(seed);
        double[] stats = new double[iters];
        double[] sample = new double[xs.length];
        for (int it = 0; it < iters; it++) {
            for (int i = 0; i < xs.length; i++) sample[i] = xs[rnd.nextInt(xs.length)];
            stats[it] = statistic.applyAsDouble(sample);
        }
        double mu = mean(stats);
        double ss = 0;
        for (double s : stats) ss += (s - mu) * (s - mu);
        return Math.sqrt(ss / (iters - 1));
    }

    static double sum(double[] xs) {
        double s = 0;
        for (double x : xs) s += x;
        return s;
    }

    static double sum(long[] xs) {
        double s = 0;
        for (long x : xs) s += x;
        return s;
    }
}
