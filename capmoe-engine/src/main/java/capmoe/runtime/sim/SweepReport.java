package capmoe.runtime.sim;

import capmoe.files.AtomicFile;
import capmoe.report.ChartPage;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * The sweep as one self-contained figure like the paper's ({@link ChartPage}: ECharts inlined,
 * nothing fetched): one chart per model shape, a group of bars per experts-per-device point, one
 * bar per policy (MoE-layer speedup against {@code none} on the same devices), and, where the
 * paper measured that shape, its speedups as outlined bars ("paper score@γ") in the same group;
 * then a table of every number drawn. Written atomically.
 */
public final class SweepReport {
    private SweepReport() { }

    /** One colour per policy (not per kind: score@1.0, @1.5 and @2.0 are different bars here). */
    private static final String[] COLORS = {"#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4"};

    public static void write(Path file, String title, List<String> notes, List<Sweep.Cell> cells, List<Sweep.Measured> measured) {
        AtomicFile.writeString(file, render(title, notes, cells, measured));
    }

    /** @param measured ep-bench's measured speedups, drawn as half-transparent bars beside the simulated ones (may be empty) */
    public static String render(String title, List<String> notes, List<Sweep.Cell> cells, List<Sweep.Measured> measured) {
        ChartPage page = new ChartPage(title);
        notes.forEach(page::note);
        List<String> policies = new ArrayList<>(new LinkedHashSet<>(cells.stream().map(Sweep.Cell::policy).filter(p -> !p.equals("none")).toList()));
        Map<String, List<Sweep.Cell>> byShape = new LinkedHashMap<>();
        for (Sweep.Cell c : cells) byShape.computeIfAbsent(c.shape(), k -> new ArrayList<>()).add(c);
        for (Map.Entry<String, List<Sweep.Cell>> shape : byShape.entrySet()) {
            List<Sweep.Cell> list = shape.getValue();
            Sweep.Cell first = list.getFirst();
            page.heading(shape.getKey() + " (" + first.experts() + " experts, top-" + first.topK() + ")");
            List<Integer> groups = new ArrayList<>(new LinkedHashSet<>(list.stream().map(Sweep.Cell::expertsPerDevice).toList()));
            List<String> categories = groups.stream().map(n -> n + "/device (D=" + first.experts() / n + ")").toList();
            ObjectNode o = ChartPage.option(shape.getKey() + ": MoE-layer speedup vs none");
            o.set("tooltip", ChartPage.tooltip("item"));
            o.set("legend", ChartPage.legend());
            o.set("xAxis", ChartPage.categoryAxis("experts per device", categories));
            o.set("yAxis", ChartPage.valueAxis("speedup (x)", true));
            ArrayNode series = o.putArray("series");
            for (int i = 0; i < policies.size(); i++) {
                ObjectNode s = ChartPage.series("bar", policies.get(i), COLORS[i % COLORS.length]);
                ArrayNode data = s.putArray("data");
                for (int n : groups) {
                    Sweep.Cell c = find(list, n, policies.get(i));
                    if (c == null || !Double.isFinite(c.speedup())) data.addNull();
                    else data.add(c.speedup());
                }
                if (i == 0) s.set("markLine", ChartPage.markLine("y", 1.0, "1.0x"));
                series.add(s);
            }
            List<Sweep.Measured> mine = measured.stream().filter(m -> m.shape().equals(shape.getKey())).toList();
            for (int i = 0; i < policies.size(); i++) {
                String policy = policies.get(i);
                if (mine.stream().noneMatch(m -> m.policy().equals(policy))) continue;
                ObjectNode s = ChartPage.series("bar", "measured " + policy, null);
                s.putObject("itemStyle").put("color", COLORS[i % COLORS.length]).put("opacity", 0.45)
                        .put("borderColor", "#222").put("borderWidth", 1);
                ArrayNode data = s.putArray("data");
                for (int n : groups) {
                    Sweep.Measured m = mine.stream().filter(x -> x.expertsPerDevice() == n && x.policy().equals(policy)).findFirst().orElse(null);
                    if (m == null) data.addNull();
                    else data.add(m.speedup());
                }
                series.add(s);
            }
            for (int i = 0; i < policies.size(); i++) {
                boolean any = false;
                ArrayNode data = ChartPage.array();
                for (int n : groups) {
                    Sweep.Cell c = find(list, n, policies.get(i));
                    if (c != null && Double.isFinite(c.paper())) {
                        data.add(c.paper());
                        any = true;
                    } else {
                        data.addNull();
                    }
                }
                if (!any) continue;
                ObjectNode s = ChartPage.series("bar", "paper " + policies.get(i), null);
                s.putObject("itemStyle").put("color", "rgba(0,0,0,0)").put("borderColor", COLORS[i % COLORS.length])
                        .put("borderWidth", 2).put("borderType", "dashed");
                s.set("data", data);
                series.add(s);
            }
            page.chart(o, 380);
            List<List<String>> rows = new ArrayList<>();
            for (Sweep.Cell c : list) {
                rows.add(List.of(String.valueOf(c.expertsPerDevice()), String.valueOf(c.devices()), c.policy(),
                        ChartPage.fmt("%.1f", 100 * c.droppedFraction()), ChartPage.fmt("%.2f", c.maxOverMean()),
                        ChartPage.fmt("%.2f", c.speedup()), ChartPage.fmt("%.2f", c.bound()), String.valueOf(c.extraSlots()),
                        Double.isFinite(c.paper()) ? ChartPage.fmt("%.2f", c.paper()) : ""));
            }
            page.table(List.of("experts/device", "devices", "policy", "dropped %", "device max/mean", "speedup", "bound",
                    "extra slots/device", "paper"), rows);
            if (!mine.isEmpty()) {
                List<List<String>> mrows = new ArrayList<>();
                for (Sweep.Measured m : mine) {
                    mrows.add(List.of(String.valueOf(m.expertsPerDevice()), String.valueOf(m.devices()), m.policy(),
                            ChartPage.fmt("%.2f", m.speedup()) + " (" + ChartPage.fmt("%.2f", m.min()) + "-" + ChartPage.fmt("%.2f", m.max()) + ")",
                            ChartPage.fmt("%.2f", m.bound()), m.source()));
                }
                page.table(List.of("experts/device", "devices", "policy", "measured speedup (range)", "its bound", "ep-bench run"), mrows);
            }
        }
        return page.render();
    }

    private static Sweep.Cell find(List<Sweep.Cell> list, int n, String policy) {
        for (Sweep.Cell c : list) if (c.expertsPerDevice() == n && c.policy().equals(policy)) return c;
        return null;
    }
}
