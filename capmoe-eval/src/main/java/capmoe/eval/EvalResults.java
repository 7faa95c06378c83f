package capmoe.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Every task's result under every policy, keyed policy label -> task -> result, in run order.
 *
 * <p>EP speedup: with {@link EpRuntime} the expert-parallel runtime measures each policy's MoE
 * time on the evaluated workload ({@link #epSpeedup}); the report always gives the max-load bound
 * too: a layer under expert parallelism waits for its busiest device, so
 * sum(max device load under none) / sum(max device load under the policy), over every MoE layer
 * call of the same task, bounds the policy's MoE-layer speedup.
 */
public record EvalResults(Map<String, Map<String, TaskResult>> byPolicy, Evaluator.Config config) {

    public List<String> policies() {
        return new ArrayList<>(byPolicy.keySet());
    }

    public List<String> tasks() {
        List<String> tasks = new ArrayList<>();
        for (Map<String, TaskResult> m : byPolicy.values()) {
            for (String t : m.keySet()) if (!tasks.contains(t)) tasks.add(t);
        }
        return tasks;
    }

    public TaskResult get(String policy, String task) {
        Map<String, TaskResult> m = byPolicy.get(policy);
        return m == null ? null : m.get(task);
    }

    /** The max-device-load speedup bound relative to {@code none} on the same task; NaN without a none run. */
    public double speedupBound(String policy, String task) {
        TaskResult none = get("none", task);
        TaskResult r = get(policy, task);
        if (none == null || r == null || r.load().sumMaxDeviceLoad() == 0) return Double.NaN;
        return (double) none.load().sumMaxDeviceLoad() / r.load().sumMaxDeviceLoad();
    }

    /** Measured EP speedup over {@code none} on the same task (EP runtime's time); NaN when not measured. */
    public double epSpeedup(String policy, String task) {
        TaskResult none = get("none", task);
        TaskResult r = get(policy, task);
        if (none == null || r == null || !(r.epSeconds() > 0)) return Double.NaN;
        return none.epSeconds() / r.epSeconds();
    }

    /** Whether any result carries a measured EP time. */
    public boolean measuredEp() {
        for (Map<String, TaskResult> m : byPolicy.values()) {
            for (TaskResult r : m.values()) if (!Double.isNaN(r.epSeconds())) return true;
        }
        return false;
    }
}
