package capmoe.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** lm-eval's formulas against values worked out by hand. Tolerance 1e-12: plain double arithmetic. */
class MetricsTest {

    @Test
    void accuracyAndItsSampleStderr() {
        double[] acc = {1, 0, 1, 1};
        assertEquals(0.75, Metrics.mean(acc), 1e-12);
        // sample sd = sqrt((3 * 0.25^2 + 0.75^2) / 3) = 0.5; stderr = 0.5 / sqrt(4)
        assertEquals(0.25, Metrics.meanStderr(acc), 1e-12);
        assertTrue(Double.isNaN(Metrics.meanStderr(new double[] {1})), "one sample has no stderr");
    }

    @Test
    void corpusPerplexitiesWeighTheDocuments() {
        double[] ll = {-2, -4};
        // word_perplexity = exp(-(-6) / (3 + 3)) = e
        assertEquals(Math.E, Metrics.weightedPerplexity(ll, new long[] {3, 3}), 1e-12);
        // byte_perplexity over 4 + 8 bytes = exp(0.5); bits_per_byte = 6 / 12 / ln 2
        assertEquals(Math.exp(0.5), Metrics.weightedPerplexity(ll, new long[] {4, 8}), 1e-12);
        assertEquals(0.5 / Math.log(2), Metrics.bitsPerByte(ll, new long[] {4, 8}), 1e-12);
        // a per-document mean would give exp(mean(2/3, 4/3)) = e too, so check an unequal split
        assertEquals(Math.exp(6.0 / 5.0), Metrics.weightedPerplexity(ll, new long[] {1, 4}), 1e-12);
    }

    @Test
    void lambadaPerplexityIsExpOfMeanNll() {
        assertEquals(Math.exp(3), Metrics.perplexity(new double[] {-1, -5}), 1e-12);
    }

    @Test
    void bootstrapStderrIsZeroForConstantDataAndCloseToAnalyticForTheMean() {
        assertEquals(0, Metrics.bootstrapStderr(new double[] {-2, -2, -2}, Metrics::perplexity, 200, 1), 1e-12);
        double[] xs = new double[400];
        for (int i = 0; i < xs.length; i++) xs[i] = i % 2;
        // the bootstrap stderr of the mean approaches sd/sqrt(n) = 0.5/20 (population sd); 10% for 2000 draws
        assertEquals(0.025, Metrics.bootstrapStderr(xs, Metrics::mean, 2000, 7), 0.0025);
    }
}
