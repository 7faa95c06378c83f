package capmoe.runtime.dist;

import capmoe.routing.Policy;
import capmoe.runtime.ep.EpReplay;
import capmoe.testing.HeadlessChromium;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The MPI ep-bench page ({@link DistHtmlReport}): the console's values, a Gantt per policy of the
 * chosen call, one colour per policy, the 1.0x line, and every chart drawn in a real headless
 * Chromium.
 */
class DistHtmlReportTest {

    /** Two ranks, two policies, two layers, one batch; rank 1 is none's straggler at layer 1. */
    static DistEpBench.Result result() {
        List<Policy> policies = List.of(new Policy.None(), Policy.parse("score@1.0"));
        DistEpBench.Config config = new DistEpBench.Config(Path.of("model"), policies, CapacityScope.GLOBAL, Wire.BF16, 64, 16, 1, 0, 1,
                null, 42);
        List<DistEpBench.Call> calls = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            for (int layer = 0; layer < 2; layer++) {
                int heavy = p == 0 && layer == 1 ? 90 : 40;
                calls.add(new DistEpBench.Call(p, 0, DistEpBench.Phase.PREFILL, layer, List.of(
                        new MoeTiming(layer, 0, 32, 64, 40, 4096, 100_000, 200_000, 400_000, heavy * 10_000L, 150_000),
                        new MoeTiming(layer, 1, 32, 64, heavy, 4096, 100_000, 200_000, heavy * 10_000L, 0, 150_000))));
            }
        }
        DistEpBench.PhaseResult none = phase("none", 1.0, new EpReplay.Speedup(1, 1, 1), 1.0, 0.9, 0.0);
        DistEpBench.PhaseResult score = phase("score@1.0", 0.7, new EpReplay.Speedup(1.43, 1.21, 1.52), 1.6, 0.4, 0.0);
        return new DistEpBench.Result(config, null, "MPI ranks D=2 x 1 core(s) each, capacity scope global, bf16 rows on the wire",
                "uniform random token ids (seed 42)", 2, 1, new long[] {1 << 20, 1 << 20}, List.of(none, score),
                List.of(phase("none", 0.2, new EpReplay.Speedup(1, 1, 1), 1.0, 0.05, 0.0)), calls);
    }

    private static DistEpBench.PhaseResult phase(String policy, double layerMs, EpReplay.Speedup speedup, double bound, double wait0,
                                                 double wait1) {
        double[][] stages = {{0.1, 0.2, 0.4, wait0, 0.15}, {0.1, 0.2, 0.4 + wait0, wait1, 0.15}};
        return new DistEpBench.PhaseResult(policy, DistEpBench.Phase.PREFILL, 2, layerMs, layerMs * 0.8, speedup, bound, 1.3, 0.25,
                new double[] {wait0, wait1}, stages, new TreeMap<>());
    }

    @Test
    void theConsoleValuesAndOneColourPerPolicy() {
        String html = DistHtmlReport.render(result());
        assertTrue(html.contains("<td>1.43</td>") && html.contains("<td>1.21-1.52</td>") && html.contains("<td>1.60</td>"),
                "the speedup, its range and the bound as the console prints them");
        assertTrue(html.contains("Timeline of one MoE layer call (prefill, batch 1, layer 1)"), "the most unequal layer of none");
        assertTrue(html.contains("\"formatter\":\"1.0x\"") && html.contains("\"renderItem\":\"errorBarY\""), "1.0x line and range");
        assertTrue(html.contains("rank 1 (90 rows)") && html.contains("rank 1 experts 0.900 ms"), "the Gantt's rank rows and stages");
        String scoreColour = capmoe.report.ChartPage.colours(List.of("none", "score@1.0")).get("score@1.0");
        assertTrue(html.contains("\"name\":\"score@1.0\",\"itemStyle\":{\"color\":\"" + scoreColour + "\"}"), "wait bars in the policy's colour");
        assertTrue(html.contains("\"color\":\"" + scoreColour + "\"}},\"animation\""), "the Gantt title in the policy's colour");
        assertTrue(!html.contains("<script src"), "self-contained");
        assertTrue(html.contains("\"max\":2.0"), "the timeline's common axis ends at a round time above the slowest call");
    }

    @Test
    void roundTimeAxis() {
        org.junit.jupiter.api.Assertions.assertEquals(0.5, DistHtmlReport.roundUp(0.42));
        org.junit.jupiter.api.Assertions.assertEquals(2.0, DistHtmlReport.roundUp(1.01));
        org.junit.jupiter.api.Assertions.assertEquals(500.0, DistHtmlReport.roundUp(356.8));
        org.junit.jupiter.api.Assertions.assertEquals(100.0, DistHtmlReport.roundUp(100));
    }

    @Test
    void everyChartRendersInHeadlessChromium(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("dist.html");
        Files.writeString(file, DistHtmlReport.render(result()));
        // speedup prefill + decode, a Gantt per policy, the wait per rank
        HeadlessChromium.Rendered r = HeadlessChromium.check(file, 2 + 2 + 1);
        System.out.println("DistHtmlReportTest: " + r.chartsRendered() + " charts rendered in headless Chromium, SVG shapes per chart "
                + r.shapesPerChart());
    }
}
