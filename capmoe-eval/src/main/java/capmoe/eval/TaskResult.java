package capmoe.eval;

import java.util.Map;

/**
 * One task under one policy: lm-eval metrics (insertion-ordered; the first is the headline metric),
 * their standard errors (NaN where lm-eval reports "N/A"), and the routing load seen on the way.
 * {@code perDocAcc} keeps the per-document correctness so that groups (mmlu) can be aggregated.
 * {@code epSeconds}: the expert-parallel runtime's time for the MoE layers (NaN when not measured).
 */
public record TaskResult(String task, String policy, int samples, Map<String, Double> metrics,
                         Map<String, Double> stderrs, LoadRecorder.LoadSummary load, double[] perDocAcc,
                         double epSeconds) {

    public TaskResult withEpSeconds(double seconds) {
        return new TaskResult(task, policy, samples, metrics, stderrs, load, perDocAcc, seconds);
    }

    public String headline() {
        return metrics.keySet().iterator().next();
    }

    /** Perplexity-like metrics are better when lower. */
    public static boolean higherIsBetter(String metric) {
        return !(metric.contains("perplexity") || metric.equals("bits_per_byte"));
    }
}
