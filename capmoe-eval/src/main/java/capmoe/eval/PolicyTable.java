package capmoe.eval;

import capmoe.runtime.ep.EpBench;
import capmoe.runtime.ep.EpReplay;

import java.util.Locale;

/**
 * The console table of {@code ./capmoe demo} and of {@code eval --ep} on windowed tasks: per policy
 * the dropped and added shares, the busiest expert's and the busiest device's load over the mean,
 * the measured EP speedup (median and range over the interleaved repeats) beside its load bound,
 * the same two for the decode steps when there are any, the perplexity and its change against
 * {@code none}, and a replicated policy's extra memory per device. Every value is read from the
 * {@link EvalResults} that results.json, results.md and report.html are written from.
 */
public final class PolicyTable {
    private PolicyTable() { }

    /** The table of {@code task} (whose headline metric is a perplexity), one row per policy. */
    public static String render(EvalResults r, String task) {
        String metric = "perplexity";
        double base = r.get("none", task).metrics().get(metric);
        boolean decode = r.hasDecode(task), replicas = r.replicated();
        boolean flagged = false;
        StringBuilder sb = new StringBuilder(f("%-24s %8s %6s %9s %12s %11s %11s %9s", "policy", "dropped", "added", "max/mean",
                "dev.max/mean", "EP speedup", "range", "EP bound"));
        if (decode) sb.append(f(" %8s %9s", "decode", "dec.bound"));
        sb.append(f(" %11s %8s", metric, "vs none"));
        if (replicas) sb.append("  extra/device");
        sb.append('\n');
        for (String p : r.policies()) {
            TaskResult t = r.get(p, task);
            double ppl = t.metrics().get(metric);
            EpReplay.Speedup s = t.epSpeedup();
            boolean above = r.aboveBound(p, task);
            flagged |= above;
            // "!" sits in the speedup's own column, so the other columns stay where they are
            sb.append(f("%-24s %7.1f%% %5.1f%% %9.2f %12.2f %11s %11s %8.2fx", p, 100 * t.load().droppedFraction(),
                    100 * t.load().addedFraction(), t.load().meanMaxOverMeanLoad(), t.load().meanDeviceMaxOverMean(),
                    s == null ? "n/a" : f("%.2fx%s", s.median(), above ? "!" : ""),
                    s == null ? "n/a" : f("%.2f-%.2f", s.min(), s.max()), r.speedupBound(p, task)));
            if (decode) {
                EpReplay.Speedup d = r.decodeSpeedup(p, task);
                boolean dAbove = r.decodeAboveBound(p, task);
                flagged |= dAbove;
                sb.append(f(" %8s %8.2fx", d == null ? "n/a" : f("%.2fx%s", d.median(), dAbove ? "!" : ""), r.decodeBound(p, task)));
            }
            sb.append(f(" %11.3f %+7.2f%%", ppl, 100 * (ppl / base - 1)));
            if (replicas) sb.append("  ").append(extra(r.extraMemory(p)));
            sb.append('\n');
        }
        if (flagged) {
            sb.append(f("! after a speedup = measured EP speedup more than %.0f%% above its bound: timing noise (rerun with more --repeats)%n",
                    100 * EpBench.BOUND_TOLERANCE));
        }
        return sb.toString();
    }

    /** A replicated policy's extra memory per device as every report prints it ("-" without replicas). */
    static String extra(EvalResults.ExtraMemory m) {
        if (m == null) return "-";
        return f("%d expert%s (%.1f MB)", m.slots(), m.slots() == 1 ? "" : "s", m.bytes() / 1e6);
    }

    private static String f(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
