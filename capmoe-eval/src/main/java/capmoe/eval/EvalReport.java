package capmoe.eval;

import capmoe.report.ChartPage;
import capmoe.runtime.ep.EpReplay;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The evaluation report, report.html of {@code eval} and {@code demo} ({@link ChartPage}:
 * self-contained, ECharts, one colour per policy kind). Per task:
 * <ol>
 *   <li>the headline metric against the capacity factor γ, one line per scorer, with {@code none}'s
 *       value as a reference line;</li>
 *   <li>the EP speedup per policy: measured (median over the interleaved repeats, the range as
 *       error bars) when timed, with the load bound as diamonds and a line at 1.0x; the bound
 *       alone otherwise; the same for the decode steps beside it when the task has them;</li>
 *   <li>the headline metric against that speedup, one point per policy (tooltips name it);</li>
 *   <li>the table: every metric ± stderr, dropped share, max/mean load, bound, measured speedup
 *       (the same strings as results.md).</li>
 * </ol>
 */
public final class EvalReport {
    private EvalReport() { }

    public static String render(EvalResults r, String title) {
        ChartPage page = new ChartPage(title);
        page.note("Policies: " + String.join(", ", r.policies()));
        Map<String, String> colours = ChartPage.colours(r.policies());
        for (String task : r.tasks()) {
            TaskResult any = null;
            for (String p : r.policies()) if (any == null) any = r.get(p, task);
            if (any == null) continue;
            String metric = any.headline();
            page.heading(task + " (n=" + any.samples() + ")");
            ObjectNode gamma = gammaChart(r, task, metric, colours);
            if (gamma != null) page.chart(gamma, 340);
            page.chart(speedupChart(r, task, colours, false), 340);
            if (r.hasDecode(task)) page.chart(speedupChart(r, task, colours, true), 340);
            page.chart(qualityVsSpeedup(r, task, metric, colours), 380);
            table(page, r, task, any);
        }
        page.note("EP speedup bound: sum over MoE layer calls of the busiest device's load under none divided by the same "
                + "under the policy, on this workload, experts placed contiguously on " + r.config().devices() + " devices (a replicated policy: its EPLB placement). "
                + "Dropped = top-k (token, expert) pairs the policy removed / top-k pairs; added = pairs kept outside the top-k "
                + "(Expanded Drop's local experts) / top-k pairs. "
                + "EP speedup (measured), with --ep and in the demo: the expert-parallel runtime's MoE time under none over the "
                + "policy's, per interleaved repeat: median (lowest-highest); ! = more than 5% above the bound (timing noise). "
                + "Decode (when shown): greedy steps after each batch of windows, one token per window per MoE call, their "
                + "bound and speedup over their calls alone. Extra memory: a replicated policy's replicas beyond ceil(E/D) on its "
                + "fullest device (bf16 weights).");
        return page.render();
    }

    /** Policies of the form kind@gamma (not expert_drop, whose number is rho), one line per kind. */
    private static ObjectNode gammaChart(EvalResults r, String task, String metric, Map<String, String> colours) {
        Map<String, List<double[]>> byKind = new LinkedHashMap<>();
        Map<String, String> kindColour = new LinkedHashMap<>();
        for (String p : r.policies()) {
            int at = p.indexOf('@');
            if (at < 0 || p.startsWith("expert_drop")) continue;
            TaskResult t = r.get(p, task);
            if (t == null) continue;
            double g;
            try {
                g = Double.parseDouble(p.substring(at + 1).split(":")[0]);
            } catch (NumberFormatException e) {
                continue;
            }
            byKind.computeIfAbsent(ChartPage.kind(p), k -> new ArrayList<>()).add(new double[] {g, t.metrics().get(metric)});
            kindColour.putIfAbsent(ChartPage.kind(p), colours.get(p));
        }
        if (byKind.isEmpty()) return null;
        ObjectNode o = ChartPage.option(task + ": " + metric + " vs capacity factor");
        o.set("tooltip", ChartPage.tooltip("item"));
        o.set("legend", ChartPage.legend());
        o.set("xAxis", ChartPage.valueAxis("capacity factor γ", false));
        o.set("yAxis", ChartPage.valueAxis(metric, false));
        ArrayNode series = o.putArray("series");
        TaskResult none = r.get("none", task);
        boolean first = true;
        for (var e : byKind.entrySet()) {
            e.getValue().sort((a, b) -> Double.compare(a[0], b[0]));
            ObjectNode s = ChartPage.series("line", e.getKey(), kindColour.get(e.getKey()));
            s.put("symbolSize", 8);
            ArrayNode data = s.putArray("data");
            for (double[] p : e.getValue()) ChartPage.point(data, p);
            if (first && none != null) s.set("markLine", ChartPage.markLine("y", none.metrics().get(metric), "none"));
            first = false;
            series.add(s);
        }
        return o;
    }

    /** @param decode the decode steps' speedups and bounds instead of the scoring passes' (prefill) */
    private static ObjectNode speedupChart(EvalResults r, String task, Map<String, String> colours, boolean decode) {
        boolean measured = r.measuredEp();
        List<String> policies = r.policies().stream().filter(p -> r.get(p, task) != null).toList();
        String phase = r.hasDecode(task) ? (decode ? " (decode steps)" : " (prefill)") : "";
        ObjectNode o = ChartPage.option(task + ": " + (measured ? "EP speedup over none" + phase + " (measured vs bound)"
                : "EP speedup bound over none" + phase));
        o.set("tooltip", ChartPage.tooltip("item"));
        o.set("legend", ChartPage.legend());
        o.set("xAxis", ChartPage.categoryAxis("policy", policies));
        o.set("yAxis", ChartPage.valueAxis("speedup (x)", true));
        ArrayNode series = o.putArray("series");
        ObjectNode bars = ChartPage.series("bar", measured ? "measured (median)" : "load bound", null);
        ArrayNode data = bars.putArray("data");
        for (String p : policies) {
            ObjectNode d = data.addObject();
            EpReplay.Speedup sp = decode ? r.decodeSpeedup(p, task) : r.speedup(p, task);
            double v = measured ? (sp == null ? Double.NaN : sp.median()) : decode ? r.decodeBound(p, task) : r.speedupBound(p, task);
            if (Double.isFinite(v)) d.put("value", v);
            else d.putNull("value");
            d.putObject("itemStyle").put("color", colours.get(p));
        }
        bars.set("markLine", ChartPage.markLine("y", 1.0, "1.0x"));
        series.add(bars);
        if (measured) {
            ObjectNode err = ChartPage.series("custom", "range over repeats", "#333");
            err.put("renderItem", "errorBarY");
            ArrayNode ed = err.putArray("data");
            for (int i = 0; i < policies.size(); i++) {
                EpReplay.Speedup s = decode ? r.decodeSpeedup(policies.get(i), task) : r.speedup(policies.get(i), task);
                if (s != null) ChartPage.point(ed, i, s.min(), s.max());
            }
            ObjectNode enc = err.putObject("encode");
            enc.putArray("x").add(0);
            enc.putArray("y").add(1).add(2);
            series.add(err);
            ObjectNode bound = ChartPage.series("scatter", "load bound", "#222");
            bound.put("symbol", "diamond").put("symbolSize", 12);
            ArrayNode bd = bound.putArray("data");
            for (int i = 0; i < policies.size(); i++) {
                double b = decode ? r.decodeBound(policies.get(i), task) : r.speedupBound(policies.get(i), task);
                if (Double.isFinite(b)) ChartPage.point(bd, i, b);
            }
            series.add(bound);
        }
        return o;
    }

    private static ObjectNode qualityVsSpeedup(EvalResults r, String task, String metric, Map<String, String> colours) {
        boolean measured = r.measuredEp();
        String what = measured ? "EP speedup (measured)" : "EP speedup bound";
        ObjectNode o = ChartPage.option(task + ": " + metric + " vs " + what);
        o.set("tooltip", ChartPage.tooltip("item"));
        o.set("legend", ChartPage.legend());
        o.set("xAxis", ChartPage.valueAxis(what + " (x)", false));
        o.set("yAxis", ChartPage.valueAxis(metric, false));
        ArrayNode series = o.putArray("series");
        boolean first = true;
        for (String p : r.policies()) {
            TaskResult t = r.get(p, task);
            if (t == null) continue;
            double x = measured ? r.epSpeedup(p, task) : r.speedupBound(p, task);
            ObjectNode s = ChartPage.series("scatter", p, colours.get(p));
            s.put("symbolSize", 11);
            s.putObject("label").put("show", true).put("formatter", p).put("position", "right").put("fontSize", 10);
            s.putObject("labelLayout").put("hideOverlap", true);
            ChartPage.point(s.putArray("data"), x, t.metrics().get(metric));
            if (first) s.set("markLine", ChartPage.markLine("x", 1.0, "1.0x"));
            first = false;
            series.add(s);
            EpReplay.Speedup sp = r.speedup(p, task);
            if (measured && sp != null) {
                ObjectNode err = ChartPage.series("custom", p, colours.get(p));
                err.put("renderItem", "errorBarX");
                ChartPage.point(err.putArray("data"), t.metrics().get(metric), sp.min(), sp.max());
                ObjectNode enc = err.putObject("encode");
                enc.putArray("y").add(0);
                enc.putArray("x").add(1).add(2);
                series.add(err);
            }
        }
        return o;
    }

    private static void table(ChartPage page, EvalResults r, String task, TaskResult any) {
        List<String> header = new ArrayList<>(List.of("policy"));
        header.addAll(any.metrics().keySet());
        boolean decode = r.hasDecode(task);
        header.addAll(List.of("dropped", "added", "max/mean load", "device max/mean", "EP speedup bound"));
        if (r.measuredEp()) header.add("EP speedup (measured)");
        if (decode) header.addAll(List.of("decode bound", "decode speedup (measured)"));
        if (r.replicated()) header.add("extra memory / device");
        List<List<String>> rows = new ArrayList<>();
        for (String p : r.policies()) {
            TaskResult t = r.get(p, task);
            if (t == null) continue;
            List<String> row = new ArrayList<>(List.of(p));
            for (var m : t.metrics().entrySet()) row.add(MarkdownReport.valueWithStderr(m.getValue(), t.stderrs().get(m.getKey())));
            double s = r.speedupBound(p, task);
            row.add(MarkdownReport.fmt("%.2f%%", 100 * t.load().droppedFraction()));
            row.add(MarkdownReport.fmt("%.2f%%", 100 * t.load().addedFraction()));
            row.add(MarkdownReport.fmt("%.2f", t.load().meanMaxOverMeanLoad()));
            row.add(MarkdownReport.ratio(t.load().meanDeviceMaxOverMean()));
            row.add(MarkdownReport.bound(s));
            if (r.measuredEp()) row.add(MarkdownReport.measured(r, p, task));
            if (decode) {
                row.add(MarkdownReport.bound(r.decodeBound(p, task)));
                row.add(MarkdownReport.measuredDecode(r, p, task));
            }
            if (r.replicated()) row.add(PolicyTable.extra(r.extraMemory(p)));
            rows.add(row);
        }
        page.table(header, rows);
    }
}
