package capmoe.runtime.dist;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The HTML page of {@link DistEpBench} (inline SVG, no scripts, nothing fetched): the summary
 * tables, a per-rank timeline (Gantt) of one MoE layer call under every policy on the same
 * scale, and the mean straggler wait per rank per policy.
 *
 * <p>Timeline: the measured prefill call of the first batch at the layer where {@code none}'s
 * ranks are most unequal (highest max/mean rows); each rank's bar stacks its measured stages
 * router → dispatch → experts → wait → combine from the call's start on that rank.
 */
public final class DistHtmlReport {
    private DistHtmlReport() { }

    private static final String[] STAGES = {"router", "dispatch", "experts", "wait", "combine"};
    private static final String[] COLORS = {"#8da0cb", "#66c2a5", "#fc8d62", "#d9d9d9", "#a6d854"};

    public static String render(DistEpBench.Result r) {
        StringBuilder h = new StringBuilder();
        String title = "capmoe ep-bench over MPI: " + r.config().model();
        h.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").append(esc(title)).append("</title>\n<style>")
                .append("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}")
                .append("h2{margin-top:32px}.note{color:#555;font-size:90%}svg text{font-size:11px;font-family:sans-serif}")
                .append("</style></head><body>\n<h1>").append(esc(title)).append("</h1>\n");
        h.append("<p class=\"note\">").append(esc(r.label())).append("</p>\n<p class=\"note\">data: ").append(esc(r.data()))
                .append("</p>\n");
        table(h, "Prefill", r.prefill());
        if (!r.decode().isEmpty()) table(h, "Decode", r.decode());

        DistEpBench.Call pick = null;
        for (DistEpBench.Call c : r.calls()) {
            if (c.policy() == 0 && c.batch() == 0 && c.phase() == DistEpBench.Phase.PREFILL
                    && (pick == null || c.maxOverMean() > pick.maxOverMean())) pick = c;
        }
        if (pick != null) {
            final DistEpBench.Call none = pick;
            List<DistEpBench.Call> same = r.calls().stream().filter(c -> c.batch() == none.batch() && c.layer() == none.layer()
                    && c.phase() == DistEpBench.Phase.PREFILL).sorted((a, b) -> Integer.compare(a.policy(), b.policy())).toList();
            double maxMs = same.stream().mapToDouble(c -> c.layerNs() / 1e6).max().orElse(1);
            h.append("<h2>Timeline of one MoE layer call (prefill, batch 1, layer ").append(none.layer()).append(")</h2>\n")
                    .append("<p class=\"note\">One bar per rank, its measured stages from the call's start on that rank; ")
                    .append("grey = waiting for the slowest rank's experts. Same time scale for every policy.</p>\n");
            h.append(legend());
            for (DistEpBench.Call c : same) h.append(gantt(r.config().policies().get(c.policy()).label(), c, maxMs));
        }

        h.append("<h2>Straggler wait per rank (prefill, mean per MoE layer call)</h2>\n");
        double maxWait = r.prefill().stream().flatMapToDouble(p -> Arrays.stream(p.waitMsPerRank())).max().orElse(1);
        for (DistEpBench.PhaseResult p : r.prefill()) h.append(waitBars(p, maxWait));
        return h.append("</body></html>\n").toString();
    }

    private static void table(StringBuilder h, String phase, List<DistEpBench.PhaseResult> rows) {
        h.append("<h2>").append(phase).append("</h2>\n<table><tr><th>policy</th><th>max/mean rows</th><th>MoE layer (ms)</th>")
                .append("<th>speedup vs none</th><th>range over batches</th><th>load bound</th><th>all-to-all %</th></tr>\n");
        for (DistEpBench.PhaseResult p : rows) {
            h.append("<tr><td style=\"text-align:left\">").append(esc(p.policy())).append("</td><td>").append(f("%.2f", p.maxOverMean()))
                    .append("</td><td>").append(f("%.3f", p.layerMs())).append("</td><td>").append(f("%.2f", p.speedup().median()))
                    .append("</td><td>").append(f("%.2f", p.speedup().min())).append("&ndash;").append(f("%.2f", p.speedup().max()))
                    .append("</td><td>").append(f("%.2f", p.bound())).append("</td><td>").append(f("%.1f", 100 * p.allToAllShare()))
                    .append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    private static String legend() {
        StringBuilder s = new StringBuilder("<p>");
        for (int j = 0; j < STAGES.length; j++) {
            s.append("<span style=\"display:inline-block;width:12px;height:12px;background:").append(COLORS[j])
                    .append(";margin:0 4px 0 12px\"></span>").append(STAGES[j]);
        }
        return s.append("</p>\n").toString();
    }

    private static String gantt(String policy, DistEpBench.Call c, double maxMs) {
        int d = c.ranks().size(), left = 120, width = 760, row = 22;
        double scale = width / maxMs;
        StringBuilder s = new StringBuilder();
        s.append("<h3>").append(esc(policy)).append(f(": layer time %.3f ms (slowest rank)", c.layerNs() / 1e6)).append("</h3>\n")
                .append("<svg width=\"").append(left + width + 20).append("\" height=\"").append(d * row + 30).append("\">\n");
        for (int r = 0; r < d; r++) {
            DistEpBench.Call call = c;
            var t = call.ranks().get(r);
            long[] ns = {t.routerNs(), t.dispatchNs(), t.expertNs(), t.waitNs(), t.combineNs()};
            int y = r * row + 4;
            s.append("<text x=\"4\" y=\"").append(y + 14).append("\">rank ").append(r).append(f(" (%d rows)", t.rowsReceived()))
                    .append("</text>\n");
            double x = left;
            for (int j = 0; j < ns.length; j++) {
                double w = ns[j] / 1e6 * scale;
                s.append(f("<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>rank %d %s %.3f ms</title></rect>%n",
                        x, y, Math.max(0, w), row - 6, COLORS[j], r, STAGES[j], ns[j] / 1e6));
                x += w;
            }
        }
        int axisY = d * row + 18;
        for (int k = 0; k <= 4; k++) {
            double ms = maxMs * k / 4;
            s.append(f("<text x=\"%.1f\" y=\"%d\">%.2f ms</text>%n", left + ms * scale - (k == 4 ? 40 : 0), axisY, ms));
        }
        return s.append("</svg>\n").toString();
    }

    private static String waitBars(DistEpBench.PhaseResult p, double maxWait) {
        double[] w = p.waitMsPerRank();
        int left = 70, width = 400, row = 18;
        StringBuilder s = new StringBuilder("<h3>").append(esc(p.policy())).append("</h3>\n<svg width=\"")
                .append(left + width + 80).append("\" height=\"").append(w.length * row + 6).append("\">\n");
        for (int r = 0; r < w.length; r++) {
            double bw = maxWait == 0 ? 0 : w[r] / maxWait * width;
            s.append(f("<text x=\"4\" y=\"%d\">rank %d</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#d9d9d9\" stroke=\"#999\"/>"
                    + "<text x=\"%.1f\" y=\"%d\">%.3f ms</text>%n", r * row + 14, r, left, r * row + 3, bw, row - 5,
                    left + bw + 4, r * row + 14, w[r]));
        }
        return s.append("</svg>\n").toString();
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static String f(String fmt, Object... args) { return String.format(Locale.ROOT, fmt, args); }
}
