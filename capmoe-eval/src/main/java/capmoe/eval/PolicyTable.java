package capmoe.eval;

import capmoe.runtime.ep.EpBench;
import capmoe.runtime.ep.EpReplay;

import java.util.Locale;

/**
 * The console table of {@code ./capmoe demo}: per policy the dropped share, the busiest expert's
 * load over the mean, the measured EP speedup (median and range over the interleaved repeats), the
 * EP bound, the perplexity and its change against {@code none}. Every value is read from the
 * {@link EvalResults} that results.json, results.md and report.html are written from.
 */
public final class PolicyTable {
    private PolicyTable() { }

    /** The table of {@code task} (whose headline metric is a perplexity), one row per policy. */
    public static String render(EvalResults r, String task) {
        String metric = "perplexity";
        double base = r.get("none", task).metrics().get(metric);
        boolean flagged = false;
        StringBuilder sb = new StringBuilder(f("%-20s %8s %6s %9s %11s %11s %9s %11s %8s%n",
                "policy", "dropped", "added", "max/mean", "EP speedup", "range", "EP bound", metric, "vs none"));
        for (String p : r.policies()) {
            TaskResult t = r.get(p, task);
            double ppl = t.metrics().get(metric);
            double dropped = t.load().droppedFraction(), added = t.load().addedFraction();
            EpReplay.Speedup s = t.epSpeedup();
            boolean above = r.aboveBound(p, task);
            flagged |= above;
            // "!" sits in the speedup's own column, so the other columns stay where they are
            sb.append(f("%-20s %7.1f%% %5.1f%% %9.2f %11s %11s %8.2fx %11.3f %+7.2f%%%n", p, 100 * dropped, 100 * added,
                    t.load().meanMaxOverMeanLoad(), s == null ? "n/a" : f("%.2fx%s", s.median(), above ? "!" : ""),
                    s == null ? "n/a" : f("%.2f-%.2f", s.min(), s.max()), r.speedupBound(p, task), ppl, 100 * (ppl / base - 1)));
        }
        if (flagged) {
            sb.append(f("! after a speedup = measured EP speedup more than %.0f%% above its bound: timing noise (rerun with more --repeats)%n",
                    100 * EpBench.BOUND_TOLERANCE));
        }
        return sb.toString();
    }

    private static String f(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
