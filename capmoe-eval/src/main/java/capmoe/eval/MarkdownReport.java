package capmoe.eval;

import java.util.Locale;

/** One Markdown table per task: a row per policy with every metric ± stderr and the routing load. */
public final class MarkdownReport {
    private MarkdownReport() { }

    public static String render(EvalResults r) {
        StringBuilder sb = new StringBuilder();
        for (String task : r.tasks()) {
            TaskResult first = null;
            for (String p : r.policies()) if (first == null) first = r.get(p, task);
            if (first == null) continue;
            sb.append("### ").append(task).append(" (n=").append(first.samples()).append(")\n\n| policy |");
            for (String m : first.metrics().keySet()) sb.append(' ').append(m).append(" |");
            boolean decode = r.hasDecode(task);
            sb.append(" dropped | added | max/mean load | device max/mean | EP speedup bound (").append(first.load().devices()).append(" dev) |");
            if (r.measuredEp()) sb.append(" EP speedup (measured) |");
            if (decode) sb.append(" decode bound | decode speedup (measured) |");
            if (r.replicated()) sb.append(" extra memory / device |");
            sb.append("\n|---|").append("---:|".repeat(first.metrics().size() + 5 + (r.measuredEp() ? 1 : 0) + (decode ? 2 : 0)
                    + (r.replicated() ? 1 : 0))).append('\n');
            for (String p : r.policies()) {
                TaskResult t = r.get(p, task);
                if (t == null) continue;
                sb.append("| ").append(p).append(" |");
                for (var m : t.metrics().entrySet()) {
                    sb.append(' ').append(valueWithStderr(m.getValue(), t.stderrs().get(m.getKey()))).append(" |");
                }
                sb.append(' ').append(fmt("%.2f%%", 100 * t.load().droppedFraction())).append(" |");
                sb.append(' ').append(fmt("%.2f%%", 100 * t.load().addedFraction())).append(" |");
                sb.append(' ').append(fmt("%.2f", t.load().meanMaxOverMeanLoad())).append(" |");
                sb.append(' ').append(ratio(t.load().meanDeviceMaxOverMean())).append(" |");
                sb.append(' ').append(bound(r.speedupBound(p, task))).append(" |");
                if (r.measuredEp()) sb.append(' ').append(measured(r, p, task)).append(" |");
                if (decode) {
                    sb.append(' ').append(bound(r.decodeBound(p, task))).append(" |");
                    sb.append(' ').append(measuredDecode(r, p, task)).append(" |");
                }
                if (r.replicated()) sb.append(' ').append(PolicyTable.extra(r.extraMemory(p))).append(" |");
                sb.append('\n');
            }
            sb.append('\n');
        }
        sb.append("EP speedup bound: sum over MoE layer calls of the busiest device's load under `none` divided by "
                + "the same under the policy, on this workload, experts placed contiguously (a replicated policy: its EPLB placement). Dropped = top-k (token, expert) "
                + "pairs the policy removed / top-k pairs; added = pairs kept outside the top-k (Expanded Drop's local experts) / top-k pairs. "
                + "EP speedup (measured): the expert-parallel runtime's MoE time under `none` over the policy's, per interleaved "
                + "repeat: median (lowest-highest); ! = more than 5% above the bound (timing noise). "
                + "Decode: greedy steps after each batch of windows (one token per window per MoE call), bound and speedup "
                + "computed the same way over their calls alone. Extra memory: a replicated policy's replicas beyond "
                + "ceil(E/D) on its fullest device, bf16 weights.\n");
        return sb.toString();
    }

    /** A load bound as every report prints it. */
    static String bound(double b) {
        return Double.isNaN(b) ? "n/a" : fmt("%.2fx", b);
    }

    /** A max/mean ratio, "n/a" when not recorded. */
    static String ratio(double v) {
        return Double.isNaN(v) ? "n/a" : fmt("%.2f", v);
    }

    /** The measured decode speedup, as {@link #measured}. */
    static String measuredDecode(EvalResults r, String policy, String task) {
        return speedup(r.decodeSpeedup(policy, task), r.decodeAboveBound(policy, task));
    }

    /** The measured EP speedup as every report prints it: median, range over repeats, "!" above its bound. */
    static String measured(EvalResults r, String policy, String task) {
        return speedup(r.speedup(policy, task), r.aboveBound(policy, task));
    }

    /** A measured speedup: median, range over repeats, "!" above its bound; "n/a" when not measured. */
    private static String speedup(capmoe.runtime.ep.EpReplay.Speedup s, boolean above) {
        if (s == null) return "n/a";
        return fmt("%.2fx", s.median()) + " (" + fmt("%.2f", s.min()) + "-" + fmt("%.2f", s.max()) + ")" + (above ? " !" : "");
    }

    static String valueWithStderr(double v, Double se) {
        String value = Math.abs(v) >= 100 ? fmt("%.2f", v) : fmt("%.4f", v);
        if (se == null || Double.isNaN(se)) return value;
        return value + " ± " + fmt("%.4f", se);
    }

    static String fmt(String f, double v) {
        return String.format(Locale.ROOT, f, v);
    }
}
