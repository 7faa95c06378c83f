package capmoe.eval;

import capmoe.runtime.ep.EpReplay;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Results in lm-eval's JSON layout: {@code results.<task>.<metric>,none} and
 * {@code results.<task>.<metric>_stderr,none} ("N/A" where lm-eval has no stderr), plus
 * {@code n-samples}. One such document per policy; the combined document holds them all under
 * {@code results_by_policy.<policy>} with the routing statistics beside them.
 */
public final class ResultsJson {
    private ResultsJson() { }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The lm-eval-shaped document of one policy. */
    public static ObjectNode forPolicy(EvalResults r, String policy, Map<String, Object> meta) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode results = root.putObject("results");
        ObjectNode samples = root.putObject("n-samples");
        ObjectNode routing = root.putObject("routing");
        for (var e : r.byPolicy().get(policy).entrySet()) {
            TaskResult t = e.getValue();
            ObjectNode task = results.putObject(e.getKey());
            task.put("alias", e.getKey());
            for (var m : t.metrics().entrySet()) {
                putNumber(task, m.getKey() + ",none", m.getValue());
                double se = t.stderrs().getOrDefault(m.getKey(), Double.NaN);
                if (Double.isNaN(se)) task.put(m.getKey() + "_stderr,none", "N/A");
                else task.put(m.getKey() + "_stderr,none", se);
            }
            ObjectNode n = samples.putObject(e.getKey());
            n.put("original", t.samples());
            n.put("effective", t.samples());
            ObjectNode load = routing.putObject(e.getKey());
            putNumber(load, "dropped_fraction", t.load().droppedFraction());
            putNumber(load, "added_fraction", t.load().addedFraction());
            load.put("kept_pairs", t.load().keptPairs());
            load.put("assigned_pairs", t.load().assignedPairs());
            putNumber(load, "mean_max_over_mean_load", t.load().meanMaxOverMeanLoad());
            putNumber(load, "mean_device_max_over_mean_load", t.load().meanDeviceMaxOverMean());
            load.put("devices", t.load().devices());
            load.put("sum_max_device_load", t.load().sumMaxDeviceLoad());
            putNumber(load, "ep_speedup_bound", r.speedupBound(policy, e.getKey()));
            putNumber(load, "ep_seconds", t.epSeconds());
            putNumber(load, "ep_speedup", r.epSpeedup(policy, e.getKey()));
            if (t.epSpeedup() != null) {
                putNumber(load, "ep_speedup_min", t.epSpeedup().min());
                putNumber(load, "ep_speedup_max", t.epSpeedup().max());
                load.put("ep_speedup_above_bound", r.aboveBound(policy, e.getKey()));
            }
            if (t.decode() != null) {
                // the decode steps after each batch of windows, the same fields over their calls alone
                ObjectNode d = load.putObject("decode");
                d.put("steps", t.decode().steps());
                putNumber(d, "dropped_fraction", t.decode().load().droppedFraction());
                putNumber(d, "mean_max_over_mean_load", t.decode().load().meanMaxOverMeanLoad());
                putNumber(d, "mean_device_max_over_mean_load", t.decode().load().meanDeviceMaxOverMean());
                d.put("sum_max_device_load", t.decode().load().sumMaxDeviceLoad());
                putNumber(d, "ep_speedup_bound", r.decodeBound(policy, e.getKey()));
                putNumber(d, "ep_seconds", t.decode().epSeconds());
                EpReplay.Speedup ds = r.decodeSpeedup(policy, e.getKey());
                putNumber(d, "ep_speedup", ds == null ? Double.NaN : ds.median());
                if (ds != null) {
                    putNumber(d, "ep_speedup_min", ds.min());
                    putNumber(d, "ep_speedup_max", ds.max());
                    d.put("ep_speedup_above_bound", r.decodeAboveBound(policy, e.getKey()));
                }
            }
        }
        EvalResults.ExtraMemory extra = r.extraMemory(policy);
        if (extra != null) {
            ObjectNode rep = root.putObject("replication");
            rep.put("extra_experts_per_device", extra.slots());
            rep.put("extra_bytes_per_device", extra.bytes());
            rep.put("bytes_per_weight", extra.bytesPerWeight());
        }
        ObjectNode config = root.putObject("config");
        config.put("policy", policy);
        config.put("max_length", r.config().maxLength());
        config.put("batch_size", r.config().batch());
        config.put("shared_context", r.config().sharedContext());
        config.put("prefix_token_id", r.config().prefixToken());
        for (var m : meta.entrySet()) config.putPOJO(m.getKey(), m.getValue());
        return root;
    }

    /** Every policy's document under results_by_policy, with the run's policy and task lists. */
    public static ObjectNode combined(EvalResults r, Map<String, Object> meta) {
        ObjectNode root = JSON.createObjectNode();
        root.putPOJO("policies", r.policies());
        root.putPOJO("tasks", r.tasks());
        ObjectNode config = root.putObject("config");
        for (var m : meta.entrySet()) config.putPOJO(m.getKey(), m.getValue());
        ObjectNode by = root.putObject("results_by_policy");
        for (String p : r.policies()) by.set(p, forPolicy(r, p, meta));
        return root;
    }

    /**
     * Checks an lm-eval-shaped document: every task under results has at least one
     * {@code <metric>,none} with a number and a matching {@code <metric>_stderr,none} that is a
     * number or "N/A". Returns the problems found (empty = valid).
     */
    public static List<String> validate(JsonNode doc) {
        List<String> problems = new ArrayList<>();
        JsonNode results = doc.get("results");
        if (results == null || !results.isObject() || results.isEmpty()) {
            problems.add("no non-empty 'results' object");
            return problems;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = results.fields(); it.hasNext(); ) {
            var task = it.next();
            int metrics = 0;
            for (Iterator<Map.Entry<String, JsonNode>> f = task.getValue().fields(); f.hasNext(); ) {
                var field = f.next();
                String key = field.getKey();
                if (!key.endsWith(",none") || key.contains("_stderr,")) continue;
                metrics++;
                String where = "results." + task.getKey() + "." + key;
                if (!field.getValue().isNumber()) problems.add(where + " is not a number");
                String stderrKey = key.substring(0, key.length() - ",none".length()) + "_stderr,none";
                JsonNode se = task.getValue().get(stderrKey);
                if (se == null) problems.add("results." + task.getKey() + "." + stderrKey + " is missing");
                else if (!se.isNumber() && !"N/A".equals(se.asText())) {
                    problems.add("results." + task.getKey() + "." + stderrKey + " is neither a number nor \"N/A\"");
                }
            }
            if (metrics == 0) problems.add("results." + task.getKey() + " has no <metric>,none entry");
        }
        return problems;
    }

    private static void putNumber(ObjectNode node, String key, double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) node.putNull(key);
        else node.put(key, v);
    }
}
