package capmoe.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A self-contained HTML report (inline CSS and SVG, nothing fetched): per task, the headline
 * metric against gamma for each scorer with {@code none} as a reference line, the headline metric
 * against the EP speedup bound for every policy, and the full table.
 */
public final class HtmlReport {
    private HtmlReport() { }

    public static String render(EvalResults r, String title) {
        StringBuilder sb = new StringBuilder();
        sb.append("<!DOCTYPE html><html><head><meta charset='utf-8'><title>").append(Svg.esc(title)).append("</title><style>")
                .append("body{font-family:sans-serif;margin:2em;max-width:1150px}table{border-collapse:collapse;margin:1em 0}")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}")
                .append(".plots{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>");
        sb.append("<h1>").append(Svg.esc(title)).append("</h1>");
        sb.append("<p>Policies: ").append(Svg.esc(String.join(", ", r.policies()))).append("</p>");
        for (String task : r.tasks()) {
            TaskResult any = null;
            for (String p : r.policies()) if (any == null) any = r.get(p, task);
            if (any == null) continue;
            String metric = any.headline();
            sb.append("<h2>").append(Svg.esc(task)).append("</h2><div class='plots'>");
            sb.append(gammaPlot(r, task, metric));
            sb.append(speedupPlot(r, task, metric));
            sb.append("</div>");
            sb.append(table(r, task, any));
        }
        sb.append("<p>EP speedup bound: sum over MoE layer calls of the busiest device's load under <code>none</code> "
                + "divided by the same under the policy, on this workload, experts placed contiguously on ")
                .append(r.config().devices()).append(" devices. Dropped = 1 &minus; kept/assigned top-k (token, expert) pairs (n/a for expanded policies, "
                + "which add local experts). EP speedup (measured), with --ep: the expert-parallel runtime's MoE time "
                + "under <code>none</code> over the policy's.</p>");
        return sb.append("</body></html>\n").toString();
    }

    /** Policies of the form kind@gamma (not expert_drop, whose number is rho) grouped by kind. */
    private static String gammaPlot(EvalResults r, String task, String metric) {
        Map<String, List<double[]>> byKind = new LinkedHashMap<>();
        for (String p : r.policies()) {
            int at = p.indexOf('@');
            if (at < 0 || p.startsWith("expert_drop")) continue;
            TaskResult t = r.get(p, task);
            if (t == null) continue;
            double gamma;
            try {
                gamma = Double.parseDouble(p.substring(at + 1));
            } catch (NumberFormatException e) {
                continue;
            }
            byKind.computeIfAbsent(p.substring(0, at), k -> new ArrayList<>()).add(new double[] {gamma, t.metrics().get(metric)});
        }
        if (byKind.isEmpty()) return "";
        List<Svg.Series> series = new ArrayList<>();
        for (var e : byKind.entrySet()) {
            e.getValue().sort((a, b) -> Double.compare(a[0], b[0]));
            series.add(new Svg.Series(e.getKey(), e.getValue()));
        }
        TaskResult none = r.get("none", task);
        double ref = none == null ? Double.NaN : none.metrics().get(metric);
        return Svg.lines(task + ": " + metric + " vs capacity factor", "gamma", metric, series, ref, "none");
    }

    private static String speedupPlot(EvalResults r, String task, String metric) {
        List<Svg.Point> points = new ArrayList<>();
        for (String p : r.policies()) {
            TaskResult t = r.get(p, task);
            double s = r.measuredEp() ? r.epSpeedup(p, task) : r.speedupBound(p, task);
            if (t != null && !Double.isNaN(s)) points.add(new Svg.Point(p, s, t.metrics().get(metric)));
        }
        if (points.isEmpty()) return "";
        String what = r.measuredEp() ? "EP speedup (measured)" : "EP speedup bound";
        return Svg.scatter(task + ": " + metric + " vs " + what, what + " (x)", metric, points);
    }

    private static String table(EvalResults r, String task, TaskResult any) {
        StringBuilder sb = new StringBuilder("<table><tr><th>policy</th>");
        for (String m : any.metrics().keySet()) sb.append("<th>").append(Svg.esc(m)).append("</th>");
        sb.append("<th>dropped</th><th>max/mean load</th><th>EP speedup bound</th>");
        if (r.measuredEp()) sb.append("<th>EP speedup (measured)</th>");
        sb.append("</tr>");
        for (String p : r.policies()) {
            TaskResult t = r.get(p, task);
            if (t == null) continue;
            sb.append("<tr><td>").append(Svg.esc(p)).append("</td>");
            for (var m : t.metrics().entrySet()) {
                sb.append("<td>").append(Svg.esc(MarkdownReport.valueWithStderr(m.getValue(), t.stderrs().get(m.getKey()))))
                        .append("</td>");
            }
            double s = r.speedupBound(p, task);
            sb.append("<td>").append((Double.isNaN(t.load().droppedFraction()) ? "n/a" : MarkdownReport.fmt("%.2f%%", 100 * t.load().droppedFraction()))).append("</td><td>")
                    .append(MarkdownReport.fmt("%.2f", t.load().meanMaxOverMeanLoad())).append("</td><td>")
                    .append(Double.isNaN(s) ? "n/a" : MarkdownReport.fmt("%.2fx", s)).append("</td>");
            if (r.measuredEp()) sb.append("<td>").append(Svg.esc(MarkdownReport.measured(r, p, task))).append("</td>");
            sb.append("</tr>");
        }
        return sb.append("</table>").toString();
    }
}
