package capmoe.eval;

import java.util.Map;

/**
 * One task under one policy: lm-eval metrics (insertion-ordered; the first is the headline metric),
 * their standard errors (NaN where lm-eval reports "N/A"), and the routing load seen on the way.
 * {@code perDocAcc} keeps the per-document correctness so that groups (mmlu) can be aggregated.
 */
public record TaskResult(String task, String policy, int samples, Map<String, Double> metrics,
                         Map<String, Double> stderrs, LoadRecorder.LoadSummary load, double[] perDocAcc) {

    public String headline() {
        return metrics.keySet().iterator().next();
    }

    /** Perplexity-like metrics are better when lower. */
    public static boolean higherIsBetter(String metric) {
        return !(metric.contains("perplexity") || metric.equals("bits_per_byte"));
    }
}
