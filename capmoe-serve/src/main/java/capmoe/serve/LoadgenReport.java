package capmoe.serve;

import capmoe.report.ChartPage;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

import static capmoe.report.ChartPage.fmt;

/**
 * report.html of {@code loadgen --model --policies}: what clients saw and what the MoE layers did,
 * policy by policy, on a {@link ChartPage} (ECharts inlined, one colour per policy on the whole page).
 * Every figure is a field of the {@link ServeComparison.Run} records that the console summary and
 * loadgen.json print, so the three agree.
 *
 * <p>Page, top to bottom: 1. the workload and server; 2. the latency table and charts (TTFT, TPOT:
 * bar = p50, error bar = p50..p99, dot = p95); 3. throughput with the baseline's level as a line;
 * 4. the decode steps' MoE load table and charts (expert max/mean routed vs kept, EP bound with a
 * line at 1.0x, the EP runtime's critical path when --devices is above 1); 5. definitions.
 */
public final class LoadgenReport {
    private LoadgenReport() { }

    /** The page's HTML. */
    public static String render(ServeOptions base, LoadGen.Config w, List<ServeComparison.Run> runs) {
        List<String> policies = runs.stream().map(ServeComparison.Run::policy).toList();
        Map<String, String> colours = ChartPage.colours(policies);
        ChartPage page = new ChartPage("Serving under load: capacity policies side by side");
        page.note(String.format(Locale.ROOT, "Model %s; %d requests per policy, concurrency %d, %d new tokens each (ignore_eos: %s), "
                        + "%d prompt lines; server: %d KV slots, %d tokens per step, decode capacity %s, %d device(s); machine: %d cores. "
                        + "Same workload against one server per policy in one process, alternating between the servers in rounds.",
                base.model().getFileName(), w.requests(), w.concurrency(), w.maxTokens(), w.ignoreEos(), w.prompts().size(),
                base.maxRunning(), base.maxBatchTokens(), base.decodeCapacity() ? "on" : "off", base.devices(),
                Runtime.getRuntime().availableProcessors()));

        page.heading("Latency and throughput (what clients saw)");
        List<List<String>> rows = new ArrayList<>();
        for (ServeComparison.Run r : runs) {
            LoadGen.Result x = r.result();
            rows.add(List.of(r.policy(), Integer.toString(x.completed()), Integer.toString(x.failed()), fmt("%.1f", x.throughput()),
                    fmt("%.2f", x.requestsPerSecond()), fmt("%.1f", x.ttft().p50() * 1e3), fmt("%.1f", x.ttft().p95() * 1e3),
                    fmt("%.1f", x.ttft().p99() * 1e3), fmt("%.1f", x.tpot().p50() * 1e3), fmt("%.1f", x.tpot().p95() * 1e3),
                    fmt("%.1f", x.tpot().p99() * 1e3), fmt("%.0f%%", 100 * r.identicalToBaseline()), fmt("%.0f%%", 100 * r.prefixAgreement())));
        }
        page.table(List.of("policy", "ok", "failed", "tokens/s", "req/s", "TTFT p50 ms", "TTFT p95 ms", "TTFT p99 ms", "TPOT p50 ms",
                "TPOT p95 ms", "TPOT p99 ms", "texts identical to " + policies.getFirst(), "common prefix"), rows);
        page.chart(percentiles("Time to first token (ms): p50 bar, p50..p99 range, p95 dot", runs, colours, r -> r.result().ttft()), 320);
        page.chart(percentiles("Time per output token (ms): p50 bar, p50..p99 range, p95 dot", runs, colours, r -> r.result().tpot()), 320);
        page.chart(bars("Throughput (output tokens/s, higher is better)", "tokens/s", runs, colours, r -> r.result().throughput(),
                runs.getFirst().result().throughput(), policies.getFirst()), 300);

        page.heading("Decode steps: MoE load (from the server's counters)");
        rows = new ArrayList<>();
        for (ServeComparison.Run r : runs) {
            LoadGen.MoeLoad m = r.result().moe();
            rows.add(List.of(r.policy(), Long.toString(m.decodeSteps()), fmt("%.1f", m.tokensPerDecodeStep()),
                    fmt("%.2f", m.expertMaxOverMeanRouted()), fmt("%.2f", m.expertMaxOverMeanKept()), fmt("%.2f", 100 * m.droppedFraction()),
                    fmt("%.2f", m.epBound()), fmt("%.2f", m.decodeStepMs()), fmt("%.2f", m.epCriticalPathMsPerDecodeStep())));
        }
        page.table(List.of("policy", "decode steps", "tokens/step", "expert max/mean routed", "expert max/mean kept", "dropped %",
                "EP bound", "step ms", "EP MoE critical path ms/step"), rows);
        page.chart(routedVsKept(runs), 320);
        page.chart(bars("EP bound of the decode steps (x)", "bound (x)", runs, colours, r -> r.result().moe().epBound(), 1.0, "1.0x"), 300);
        if (base.devices() > 1) {
            page.chart(bars("EP MoE critical path per decode step (ms, lower is better)", "ms", runs, colours,
                    r -> r.result().moe().epCriticalPathMsPerDecodeStep(), Double.NaN, null), 300);
        }
        page.note("Texts identical: share of requests whose generated text equals the first policy's for the same prompt "
                + "(temperature 0); common prefix: mean share of the first policy's text that the policy's text starts with. "
                + "TTFT: time from sending to the first streamed chunk; TPOT: (last chunk - first chunk) / (tokens - 1) per request; "
                + "percentiles interpolate linearly. Expert max/mean: per MoE layer and decode step the busiest expert's pairs over the mean, "
                + "summed over layers and steps (routed = plain top-k, kept = after the policy). Dropped: top-k pairs removed / top-k pairs. "
                + "EP bound: sum of the busiest device's pairs before / after the policy over the decode steps (1 = the policy did not "
                + "lower the straggler). EP MoE critical path: the expert-parallel runtime's measured time of the MoE layers per decode "
                + "step (the slowest device in timed-serial mode, the wall time in parallel mode; 0 without --devices above 1). "
                + "From the server's /metrics counters, read before and after each run.");
        return page.render();
    }

    /** One bar per policy (its colour), with an optional dashed reference line. */
    private static ObjectNode bars(String title, String axis, List<ServeComparison.Run> runs, Map<String, String> colours,
                                   ToDoubleFunction<ServeComparison.Run> value, double reference, String referenceLabel) {
        ObjectNode o = base(title, axis, runs);
        ObjectNode s = ChartPage.series("bar", axis, null);
        ArrayNode data = s.putArray("data");
        for (ServeComparison.Run r : runs) bar(data, value.applyAsDouble(r), colours.get(r.policy()));
        if (Double.isFinite(reference)) s.set("markLine", ChartPage.markLine("y", reference, referenceLabel));
        o.withArray("series").add(s);
        return o;
    }

    /** p50 as the bar, p50..p99 as the error bar, p95 as a dot. */
    private static ObjectNode percentiles(String title, List<ServeComparison.Run> runs, Map<String, String> colours,
                                          Function<ServeComparison.Run, LoadGen.Percentiles> of) {
        ObjectNode o = base(title, "ms", runs);
        o.set("legend", ChartPage.legend());
        ObjectNode p50 = ChartPage.series("bar", "p50", "#999999"); // each bar in its policy's colour; grey in the legend
        ObjectNode range = ChartPage.series("custom", "p50..p99", "#333");
        range.put("renderItem", "errorBarY");
        ObjectNode p95 = ChartPage.series("scatter", "p95", "#222");
        ArrayNode bars = p50.putArray("data"), err = range.putArray("data"), dots = p95.putArray("data");
        for (int i = 0; i < runs.size(); i++) {
            LoadGen.Percentiles p = of.apply(runs.get(i));
            bar(bars, p.p50() * 1e3, colours.get(runs.get(i).policy()));
            ChartPage.point(err, i, p.p50() * 1e3, p.p99() * 1e3);
            ChartPage.point(dots, i, p.p95() * 1e3);
        }
        o.withArray("series").add(p50).add(range).add(p95);
        return o;
    }

    /** Expert max/mean of the decode steps: plain top-k (routed) beside what the policy kept. */
    private static ObjectNode routedVsKept(List<ServeComparison.Run> runs) {
        ObjectNode o = base("Expert max/mean load of the decode steps: routed (top-k) vs kept (after the policy)", "max/mean", runs);
        o.set("legend", ChartPage.legend());
        ObjectNode routed = ChartPage.series("bar", "routed (top-k)", "#bbbbbb");
        ObjectNode kept = ChartPage.series("bar", "kept", "#5470c6");
        ArrayNode a = routed.putArray("data"), b = kept.putArray("data");
        for (ServeComparison.Run r : runs) {
            a.add(finite(r.result().moe().expertMaxOverMeanRouted()));
            b.add(finite(r.result().moe().expertMaxOverMeanKept()));
        }
        kept.set("markLine", ChartPage.markLine("y", 1.0, "balanced"));
        o.withArray("series").add(routed).add(kept);
        return o;
    }

    /** A chart with the policies along x and a value axis from zero. */
    private static ObjectNode base(String title, String axis, List<ServeComparison.Run> runs) {
        ObjectNode o = ChartPage.option(title);
        o.set("tooltip", ChartPage.tooltip("axis"));
        o.set("xAxis", ChartPage.categoryAxis("policy", runs.stream().map(ServeComparison.Run::policy).toList()));
        o.set("yAxis", ChartPage.valueAxis(axis, true));
        o.putArray("series");
        return o;
    }

    /** A bar of its policy's colour (a non-finite value is left out). */
    private static void bar(ArrayNode data, double value, String colour) {
        ObjectNode d = data.addObject();
        if (Double.isFinite(value)) d.put("value", value); else d.putNull("value");
        d.putObject("itemStyle").put("color", colour);
    }

    /** The value, or null (which ECharts leaves out) when it is not finite. */
    private static JsonNode finite(double v) {
        return Double.isFinite(v) ? ChartPage.object().numberNode(v) : ChartPage.object().nullNode();
    }
}
