package capmoe.runtime.dist;

import capmoe.report.ChartPage;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static capmoe.report.ChartPage.fmt;

/**
 * The HTML page of {@link DistEpBench} ({@link ChartPage}: self-contained, ECharts), from the
 * same {@link DistEpBench.Result} as the console and the JSON:
 * <ol>
 *   <li>the summary tables per phase (the console's values);</li>
 *   <li>per phase, the measured speedup per policy (bar in the policy's colour, whiskers = range
 *       over batches, diamond = load bound, dashed line at 1.0x);</li>
 *   <li>a timeline (Gantt) of one MoE layer call per rank under every policy, on one time scale:
 *       the measured prefill call of the first batch at the layer where {@code none}'s ranks are
 *       most unequal (highest max/mean rows); each rank's bar stacks its stages router → dispatch
 *       → experts → wait → combine from the call's start on that rank (stage colours; the
 *       policy's colour in the title);</li>
 *   <li>the mean straggler wait per rank (prefill), one bar per policy in its colour.</li>
 * </ol>
 */
public final class DistHtmlReport {
    private DistHtmlReport() { }

    private static final String[] STAGES = {"router", "dispatch", "experts", "wait", "combine"};
    private static final String[] STAGE_COLOURS = {"#8da0cb", "#66c2a5", "#fc8d62", "#d9d9d9", "#a6d854"};

    public static String render(DistEpBench.Result r) {
        ChartPage page = new ChartPage("capmoe ep-bench over MPI: " + r.config().model());
        page.note(r.label());
        page.note("data: " + r.data());
        List<String> policies = r.config().policies().stream().map(p -> p.label()).toList();
        Map<String, String> colours = ChartPage.colours(policies);
        phase(page, "Prefill", r.prefill(), colours);
        if (!r.decode().isEmpty() && r.decode().getFirst().calls() > 0) phase(page, "Decode", r.decode(), colours);

        DistEpBench.Call pick = null;
        for (DistEpBench.Call c : r.calls()) {
            if (c.policy() == 0 && c.batch() == 0 && c.phase() == DistEpBench.Phase.PREFILL
                    && (pick == null || c.maxOverMean() > pick.maxOverMean())) pick = c;
        }
        if (pick != null) {
            final DistEpBench.Call none = pick;
            List<DistEpBench.Call> same = r.calls().stream().filter(c -> c.batch() == none.batch() && c.layer() == none.layer()
                    && c.phase() == DistEpBench.Phase.PREFILL).sorted((a, b) -> Integer.compare(a.policy(), b.policy())).toList();
            double maxMs = roundUp(same.stream().mapToDouble(c -> c.layerNs() / 1e6).max().orElse(1));
            page.heading("Timeline of one MoE layer call (prefill, batch 1, layer " + none.layer() + ")");
            page.note("One bar per rank: its measured stages from the call's start on that rank; grey = waiting for the slowest "
                    + "rank's experts. Same time scale for every policy. Hover a segment for its time.");
            for (DistEpBench.Call c : same) {
                String policy = policies.get(c.policy());
                page.chart(gantt(policy, colours.get(policy), c, maxMs), 90 + 26 * c.ranks().size());
            }
        }

        page.heading("Straggler wait per rank (prefill, mean per MoE layer call)");
        page.note("Time each rank spent waiting, after its own experts, for the slowest rank's experts (a barrier, measured).");
        page.chart(waitChart(r.prefill(), colours), 360);
        return page.render();
    }

    private static void phase(ChartPage page, String name, List<DistEpBench.PhaseResult> rows, Map<String, String> colours) {
        page.heading(name + " (" + rows.getFirst().calls() + " MoE layer calls per policy)");
        List<List<String>> table = new ArrayList<>();
        for (DistEpBench.PhaseResult p : rows) {
            table.add(List.of(p.policy(), fmt("%.2f", p.maxOverMean()), fmt("%.3f", p.layerMs()), fmt("%.3f", p.criticalMs()),
                    fmt("%.2f", p.speedup().median()), fmt("%.2f", p.speedup().min()) + "-" + fmt("%.2f", p.speedup().max()),
                    fmt("%.2f", p.bound()), fmt("%.1f", 100 * p.allToAllShare())));
        }
        page.table(List.of("policy", "max/mean rows", "MoE layer (ms)", "critical (ms)", "speedup vs none", "range over batches",
                "load bound", "all-to-all %"), table);
        List<String> policies = rows.stream().map(DistEpBench.PhaseResult::policy).toList();
        page.chart(ChartPage.speedupChart(name + ": measured speedup over none vs load bound", policies, colours,
                rows.stream().mapToDouble(p -> p.speedup().median()).toArray(), rows.stream().mapToDouble(p -> p.speedup().min()).toArray(),
                rows.stream().mapToDouble(p -> p.speedup().max()).toArray(), rows.stream().mapToDouble(DistEpBench.PhaseResult::bound).toArray(),
                "range over batches"), 380);
        page.note("Bars: speedup = none's summed layer time / the policy's on the same batch, median over batches; whiskers: "
                + "lowest-highest batch; diamonds: the load bound (sum of the most rows a rank computed, none / policy).");
    }

    /** x rounded up to 1, 2 or 5 times a power of ten: the common time axis's end. */
    static double roundUp(double x) {
        if (!(x > 0)) return 1;
        double p = Math.pow(10, Math.floor(Math.log10(x)));
        for (double m : new double[] {1, 2, 5, 10}) if (m * p >= x) return m * p;
        return 10 * p;
    }

    /** One call's stages per rank as stacked horizontal bars (ranks top to bottom). */
    private static ObjectNode gantt(String policy, String colour, DistEpBench.Call c, double maxMs) {
        ObjectNode o = ChartPage.option(policy + ": layer time " + fmt("%.3f", c.layerNs() / 1e6) + " ms (slowest rank)");
        ((ObjectNode) o.get("title").get("textStyle")).put("color", colour);
        ((ObjectNode) o.get("grid")).put("top", 40).put("bottom", 50);
        o.set("tooltip", ChartPage.tooltip("item"));
        o.set("legend", ChartPage.legend());
        int d = c.ranks().size();
        List<String> ranks = new ArrayList<>();
        for (int q = d - 1; q >= 0; q--) ranks.add("rank " + q + " (" + c.ranks().get(q).rowsReceived() + " rows)");
        o.set("yAxis", ChartPage.categoryAxis("", ranks));
        ObjectNode x = ChartPage.valueAxis("ms from the call's start", true);
        x.put("max", maxMs);
        o.set("xAxis", x);
        ArrayNode series = o.putArray("series");
        for (int j = 0; j < STAGES.length; j++) {
            ObjectNode s = ChartPage.series("bar", STAGES[j], STAGE_COLOURS[j]);
            s.put("stack", "call").put("barWidth", 16);
            ArrayNode data = s.putArray("data");
            for (int q = d - 1; q >= 0; q--) {
                MoeTiming t = c.ranks().get(q);
                long[] ns = {t.routerNs(), t.dispatchNs(), t.expertNs(), t.waitNs(), t.combineNs()};
                ObjectNode p = data.addObject();
                p.put("value", ns[j] / 1e6);
                p.put("name", "rank " + q + " " + STAGES[j] + " " + fmt("%.3f", ns[j] / 1e6) + " ms");
            }
            series.add(s);
        }
        return o;
    }

    /** Mean wait per rank, one bar series per policy in its colour. */
    private static ObjectNode waitChart(List<DistEpBench.PhaseResult> rows, Map<String, String> colours) {
        ObjectNode o = ChartPage.option("Straggler wait per rank (ms per MoE layer call)");
        o.set("tooltip", ChartPage.tooltip("item"));
        o.set("legend", ChartPage.legend());
        int d = rows.getFirst().waitMsPerRank().length;
        List<String> ranks = new ArrayList<>();
        for (int q = 0; q < d; q++) ranks.add("rank " + q);
        o.set("xAxis", ChartPage.categoryAxis("rank", ranks));
        o.set("yAxis", ChartPage.valueAxis("wait (ms)", true));
        ArrayNode series = o.putArray("series");
        for (DistEpBench.PhaseResult p : rows) {
            ObjectNode s = ChartPage.series("bar", p.policy(), colours.get(p.policy()));
            ArrayNode data = s.putArray("data");
            for (double w : p.waitMsPerRank()) data.add(Math.round(w * 1e4) / 1e4);
            series.add(s);
        }
        return o;
    }
}
