package capmoe.runtime.ep;

import capmoe.files.AtomicFile;
import capmoe.report.ChartPage;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static capmoe.report.ChartPage.fmt;

/**
 * The expert-parallel report of {@code ep-bench} ({@link ChartPage}: self-contained, ECharts): the
 * summary table (the console's values), the measured speedup per policy with its range over
 * repeats as error bars, its load bound and reference lines at 1.0x, then per policy a heatmap of
 * every expert's load per layer (relative to the balanced share; before the policy for the
 * baseline) and a heatmap of every device's compute time per layer, where the straggler is the
 * darkest cell of its row.
 */
public final class EpReport {
    private EpReport() { }

    /** One policy's row: the values the console prints. */
    public record Row(PolicyRun run, EpReplay.Speedup speedup, double epSecondsPerLayer, double bound, double idlePercent) { }

    /** The page of an {@link EpBench} run. */
    public static void write(Path file, String title, EpBench.Result r) {
        AtomicFile.writeString(file, render(title, r.notes(), rows(r), phases(r)));
    }

    /** Prefill beside decode, and replication's extra memory: the same values as the console's columns. */
    static List<List<String>> phases(EpBench.Result r) {
        List<List<String>> out = new ArrayList<>();
        for (EpBench.PolicyResult p : r.policies()) {
            EpBench.Phase d = p.decode();
            out.add(List.of(p.policy(), fmt("%.2f", p.speedup().median()), fmt("%.2f", p.bound()),
                    d == null ? "-" : fmt("%.2f", d.speedup().median()),
                    d == null ? "-" : fmt("%.2f", d.speedup().min()) + "-" + fmt("%.2f", d.speedup().max()),
                    d == null ? "-" : fmt("%.2f", d.bound()), d == null ? "-" : fmt("%.2f", d.run().summary().maxOverMeanAfter()),
                    String.valueOf(p.extraSlots()), fmt("%.1f", p.extraBytes() / 1e6)));
        }
        return out;
    }

    static List<Row> rows(EpBench.Result r) {
        return r.policies().stream().map(p -> new Row(p.run(), p.speedup(), p.epSecondsPerLayer(), p.bound(),
                p.idlePercent(r.config().devices()))).toList();
    }

    public static String render(String title, List<String> notes, List<Row> rows) {
        return render(title, notes, rows, null);
    }

    /** @param phases the prefill/decode table's rows ({@link #phases}), or null for none */
    public static String render(String title, List<String> notes, List<Row> rows, List<List<String>> phases) {
        ChartPage page = new ChartPage(title);
        notes.forEach(page::note);
        if (rows.isEmpty()) return page.note("No runs.").render();
        List<String> policies = rows.stream().map(r -> r.run().policy()).toList();
        Map<String, String> colours = ChartPage.colours(policies);

        page.heading("Summary");
        List<List<String>> table = new ArrayList<>();
        for (Row r : rows) {
            EpStats.Summary s = r.run().summary();
            table.add(List.of(r.run().policy(), fmt("%.2f", 100 * s.droppedFraction()), fmt("%.2f", 100 * s.addedFraction()),
                    fmt("%.2f", s.maxOverMeanAfter()),
                    fmt("%.3f", 1e3 * r.epSecondsPerLayer()), fmt("%.2f", r.speedup().median()),
                    fmt("%.2f", r.speedup().min()) + "-" + fmt("%.2f", r.speedup().max()), fmt("%.2f", r.bound()),
                    fmt("%.1f", r.idlePercent())));
        }
        page.table(List.of("policy", "dropped %", "added %", "device max/mean", "EP layer (ms)", "speedup vs " + policies.getFirst(),
                "range over repeats", "bound", "idle %"), table);
        page.chart(speedupChart(rows, colours), 380);
        page.note("Bars: measured speedup (median over the interleaved repeats); whiskers: lowest-highest repeat; "
                + "diamonds: the load bound (sum of max device loads, none / policy).");
        if (phases != null) {
            page.heading("Prefill and decode");
            page.table(List.of("policy", "prefill speedup", "prefill bound", "decode speedup", "decode range", "decode bound",
                    "decode device max/mean", "extra expert slots / device", "extra MB / device (bf16)"), phases);
            page.note("Decode: greedy steps after each batch's prefill, one token per sequence per MoE call, recorded and replayed "
                    + "apart from prefill. uniform (ideal): none's calls with the pairs spread perfectly over the experts (timing only). "
                    + "replicate@N: EPLB replicas; extra = the most replicas a device holds beyond ceil(E/D).");
        }

        page.heading("Load per expert per layer");
        page.note("Colour = pairs routed to the expert / the balanced share of that layer (0 = white, 1 = yellow, "
                + "3 or more = dark red), summed over batches. Hover a cell for its pairs.");
        Row base = rows.getFirst();
        page.chart(expertHeatmap(base.run().policy() + ": before the policy (top-k)", base.run(), false), heatmapHeight(base.run()));
        for (Row r : rows) page.chart(expertHeatmap(r.run().policy() + ": after the policy", r.run(), true), heatmapHeight(r.run()));

        page.heading("Compute time per device per layer");
        page.note("Colour = the device's compute time in that layer, summed over batches (median repeat of every call); the "
                + "darkest cell of a row is that layer's straggler, which every other device waits for. One scale for all policies.");
        double max = 0;
        for (Row r : rows) for (int l : r.run().layers()) for (double v : r.run().deviceSeconds(l)) max = Math.max(max, v);
        for (Row r : rows) page.chart(deviceHeatmap(r.run(), max), heatmapHeight(r.run()));
        return page.render();
    }

    private static ObjectNode speedupChart(List<Row> rows, Map<String, String> colours) {
        List<String> policies = rows.stream().map(r -> r.run().policy()).toList();
        return ChartPage.speedupChart("EP speedup over " + policies.getFirst() + " (measured vs bound)", policies, colours,
                rows.stream().mapToDouble(r -> r.speedup().median()).toArray(), rows.stream().mapToDouble(r -> r.speedup().min()).toArray(),
                rows.stream().mapToDouble(r -> r.speedup().max()).toArray(), rows.stream().mapToDouble(Row::bound).toArray(),
                "range over repeats");
    }

    private static int heatmapHeight(PolicyRun run) {
        return 110 + 22 * run.layers().length;
    }

    private static ObjectNode expertHeatmap(String title, PolicyRun run, boolean after) {
        int[] layers = run.layers();
        int experts = run.expertLoad(layers[0], after).length;
        ObjectNode o = heatmapFrame(title, "expert", experts, layers);
        ObjectNode vm = o.putObject("visualMap");
        vm.put("min", 0).put("max", 3).put("calculable", false).put("orient", "horizontal").put("right", 10).put("top", 0)
                .put("itemHeight", 120).putArray("text").add("3x").add("0");
        vm.putObject("inRange").putArray("color").add("#ffffff").add("#ffff50").add("#8c0000");
        ObjectNode s = ChartPage.series("heatmap", "load / balanced share", null);
        ArrayNode data = s.putArray("data");
        for (int li = 0; li < layers.length; li++) {
            long[] load = run.expertLoad(layers[li], after);
            long total = 0;
            for (long v : run.expertLoad(layers[li], false)) total += v;
            double balanced = Math.max(1e-9, (double) total / experts);
            for (int e = 0; e < experts; e++) {
                ObjectNode d = data.addObject();
                d.putArray("value").add(e).add(li).add(Math.round(100 * load[e] / balanced) / 100.0);
                d.put("name", "layer " + layers[li] + ", expert " + e + ": " + load[e] + " pairs");
            }
        }
        o.putArray("series").add(s);
        return o;
    }

    private static ObjectNode deviceHeatmap(PolicyRun run, double maxSeconds) {
        int[] layers = run.layers();
        int devices = run.deviceSeconds(layers[0]).length;
        ObjectNode o = heatmapFrame(run.policy() + ": compute time per device (ms)", "device", devices, layers);
        ObjectNode vm = o.putObject("visualMap");
        vm.put("min", 0).put("max", Math.max(1e-6, Math.round(maxSeconds * 1e6) / 1e3)).put("calculable", false)
                .put("orient", "horizontal").put("right", 10).put("top", 0).put("itemHeight", 120).put("precision", 2);
        vm.putObject("inRange").putArray("color").add("#f7fbff").add("#6baed6").add("#08306b");
        ObjectNode s = ChartPage.series("heatmap", "compute time (ms)", null);
        ArrayNode data = s.putArray("data");
        for (int li = 0; li < layers.length; li++) {
            double[] sec = run.deviceSeconds(layers[li]);
            int straggler = IntStream.range(0, sec.length).reduce((a, b) -> sec[b] > sec[a] ? b : a).orElse(0);
            for (int d = 0; d < devices; d++) {
                ObjectNode p = data.addObject();
                p.putArray("value").add(d).add(li).add(Math.round(sec[d] * 1e6) / 1e3);
                p.put("name", "layer " + layers[li] + ", device " + d + (d == straggler ? " (straggler)" : ", waits "
                        + fmt("%.3f", (sec[straggler] - sec[d]) * 1e3) + " ms"));
            }
        }
        o.putArray("series").add(s);
        return o;
    }

    private static ObjectNode heatmapFrame(String title, String xName, int columns, int[] layers) {
        ObjectNode o = ChartPage.option(title);
        o.set("tooltip", ChartPage.tooltip("item"));
        ((ObjectNode) o.get("grid")).put("top", 50).put("bottom", 40);
        o.set("xAxis", ChartPage.categoryAxis(xName, IntStream.range(0, columns).mapToObj(String::valueOf).toList()));
        o.set("yAxis", ChartPage.categoryAxis("layer", IntStream.of(layers).mapToObj(String::valueOf).toList()));
        return o;
    }
}
