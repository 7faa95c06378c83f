package capmoe.eval;

import capmoe.runtime.ep.EpReplay;

import java.util.Map;

/**
 * One task under one policy: lm-eval metrics (insertion-ordered; the first is the headline metric),
 * their standard errors (NaN where lm-eval reports "N/A"), and the routing load seen on the way.
 * {@code perDocAcc} keeps the per-document correctness so that groups (mmlu) can be aggregated.
 * {@code epSeconds}: the expert-parallel runtime's time for the MoE layers, the median over the
 * interleaved repeats of {@link EpReplay} (NaN when not measured); {@code epSpeedup}: none's time
 * over this policy's, per repeat, median and range (null when not measured). Every output shows
 * these two values, never a ratio recomputed from them. {@code load}, {@code epSeconds} and
 * {@code epSpeedup} are the scoring passes' (prefill); {@code decode} holds the same for the
 * greedy decode steps that follow each batch of windows (null without them).
 */
public record TaskResult(String task, String policy, int samples, Map<String, Double> metrics,
                         Map<String, Double> stderrs, LoadRecorder.LoadSummary load, double[] perDocAcc,
                         double epSeconds, EpReplay.Speedup epSpeedup, Decode decode) {

    /**
     * The decode steps of a task under a policy: one token per sequence per MoE layer call, so
     * their balance and speedup differ from the prefill's. Not scored: the steps only time the
     * policy on decode-shaped calls.
     *
     * @param steps     greedy steps after each batch
     * @param load      their routing load
     * @param epSeconds median EP time of their calls (NaN until timed)
     * @param epSpeedup none's decode time over this policy's, per repeat (null until timed)
     */
    public record Decode(int steps, LoadRecorder.LoadSummary load, double epSeconds, EpReplay.Speedup epSpeedup) { }

    /** Not timed through the expert-parallel runtime. */
    public TaskResult(String task, String policy, int samples, Map<String, Double> metrics,
                      Map<String, Double> stderrs, LoadRecorder.LoadSummary load, double[] perDocAcc) {
        this(task, policy, samples, metrics, stderrs, load, perDocAcc, Double.NaN, null, null);
    }

    public TaskResult withEp(double seconds, EpReplay.Speedup speedup) {
        return new TaskResult(task, policy, samples, metrics, stderrs, load, perDocAcc, seconds, speedup, decode);
    }

    public TaskResult withDecode(Decode d) {
        return new TaskResult(task, policy, samples, metrics, stderrs, load, perDocAcc, epSeconds, epSpeedup, d);
    }

    public String headline() {
        return metrics.keySet().iterator().next();
    }

    /** Perplexity-like metrics are better when lower. */
    public static boolean higherIsBetter(String metric) {
        return !(metric.contains("perplexity") || metric.equals("bits_per_byte"));
    }
}
