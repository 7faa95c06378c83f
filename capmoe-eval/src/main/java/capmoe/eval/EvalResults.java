package capmoe.eval;

import capmoe.runtime.ep.EpBench;
import capmoe.runtime.ep.EpReplay;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Every task's result under every policy, keyed policy label -> task -> result, in run order.
 *
 * <p>EP speedup: with {@link EpRuntime} the expert-parallel runtime times each policy's MoE layer
 * calls on the evaluated workload, replayed interleaved ({@link #speedup}); the report always gives the max-load bound
 * too: a layer under expert parallelism waits for its busiest device, so
 * sum(max device load under none) / sum(max device load under the policy), over every MoE layer
 * call of the same task, bounds the policy's MoE-layer speedup.
 */
public record EvalResults(Map<String, Map<String, TaskResult>> byPolicy, Evaluator.Config config, Map<String, ExtraMemory> extraMemory) {

    /**
     * A replicated policy's extra expert weight memory: the most replicas a device holds beyond
     * ceil(E/D) over the MoE layers, and their bytes at {@code bytesPerWeight}.
     */
    public record ExtraMemory(int slots, long bytes, int bytesPerWeight) { }

    public EvalResults {
        extraMemory = extraMemory == null ? Map.of() : Map.copyOf(extraMemory);
    }

    /** No replicated policy. */
    public EvalResults(Map<String, Map<String, TaskResult>> byPolicy, Evaluator.Config config) {
        this(byPolicy, config, Map.of());
    }

    public EvalResults withExtraMemory(Map<String, ExtraMemory> m) {
        return new EvalResults(byPolicy, config, m);
    }

    /** The policy's extra memory, or null when it holds no replicas. */
    public ExtraMemory extraMemory(String policy) {
        return extraMemory.get(policy);
    }

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

    /** Measured EP speedup over {@code none} on the same task (median over repeats); NaN when not measured. */
    public double epSpeedup(String policy, String task) {
        EpReplay.Speedup s = speedup(policy, task);
        return s == null ? Double.NaN : s.median();
    }

    /** Measured EP speedup over {@code none} on the same task, median and range over repeats; null when not measured. */
    public EpReplay.Speedup speedup(String policy, String task) {
        TaskResult r = get(policy, task);
        return r == null ? null : r.epSpeedup();
    }

    /**
     * Whether the measured speedup is above its load bound by more than
     * {@link EpBench#BOUND_TOLERANCE}: the layer cannot get faster than its busiest device, so this
     * is timing noise (or a bug) and every output flags it.
     */
    public boolean aboveBound(String policy, String task) {
        EpReplay.Speedup s = speedup(policy, task);
        return s != null && s.above(speedupBound(policy, task), EpBench.BOUND_TOLERANCE);
    }

    /** The decode steps' load bound relative to {@code none} on the same task (as {@link #speedupBound}); NaN without decode steps. */
    public double decodeBound(String policy, String task) {
        TaskResult none = get("none", task);
        TaskResult r = get(policy, task);
        if (none == null || r == null || none.decode() == null || r.decode() == null || r.decode().load().sumMaxDeviceLoad() == 0) {
            return Double.NaN;
        }
        return (double) none.decode().load().sumMaxDeviceLoad() / r.decode().load().sumMaxDeviceLoad();
    }

    /** Measured decode EP speedup over {@code none} (median and range over repeats); null when not measured. */
    public EpReplay.Speedup decodeSpeedup(String policy, String task) {
        TaskResult r = get(policy, task);
        return r == null || r.decode() == null ? null : r.decode().epSpeedup();
    }

    /** As {@link #aboveBound} for the decode steps. */
    public boolean decodeAboveBound(String policy, String task) {
        EpReplay.Speedup s = decodeSpeedup(policy, task);
        return s != null && s.above(decodeBound(policy, task), EpBench.BOUND_TOLERANCE);
    }

    /** Whether any result of the task has decode steps. */
    public boolean hasDecode(String task) {
        for (String p : policies()) {
            TaskResult r = get(p, task);
            if (r != null && r.decode() != null) return true;
        }
        return false;
    }

    /** Whether any policy holds expert replicas. */
    public boolean replicated() {
        return !extraMemory.isEmpty();
    }

    /** Whether any result carries a measured EP time. */
    public boolean measuredEp() {
        for (Map<String, TaskResult> m : byPolicy.values()) {
            for (TaskResult r : m.values()) if (r.epSpeedup() != null) return true;
        }
        return false;
    }
}
