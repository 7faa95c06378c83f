package capmoe.runtime.ep;

import capmoe.testing.HeadlessChromium;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ep-bench report: self-contained, the console's values, and every chart drawn in a real headless Chromium. */
class EpReportTest {

    static LayerRecord record(int layer, int[] before, int[] after, long[] nanos) {
        LayerTiming t = new LayerTiming(layer, EpMode.TIMED_SERIAL, 10, nanos, 0, new int[nanos.length], 0, 0);
        int[] db = {before[0] + before[1], before[2] + before[3]};
        int[] da = {after[0] + after[1], after[2] + after[3]};
        return new LayerRecord(0, layer, before, after, db, da, t);
    }

    static List<EpReport.Row> rows() {
        PolicyRun none = new PolicyRun("none", List.of(
                record(0, new int[]{10, 2, 4, 4}, new int[]{10, 2, 4, 4}, new long[]{3_000_000, 1_000_000}),
                record(1, new int[]{1, 1, 9, 9}, new int[]{1, 1, 9, 9}, new long[]{500_000, 4_000_000})));
        PolicyRun capped = new PolicyRun("score@1.0", List.of(
                record(0, new int[]{10, 2, 4, 4}, new int[]{5, 2, 4, 4}, new long[]{2_000_000, 1_000_000}),
                record(1, new int[]{1, 1, 9, 9}, new int[]{1, 1, 5, 5}, new long[]{500_000, 2_000_000})));
        return List.of(new EpReport.Row(none, new EpReplay.Speedup(1, 1, 1), 3.5e-3, 1.0, 20),
                new EpReport.Row(capped, new EpReplay.Speedup(1.6, 1.4, 1.75), 2.2e-3, 1.5, 15));
    }

    @Test
    void selfContainedWithTheTablesValuesAndTooltips() {
        String html = EpReport.render("EP <test>", List.of("mode timed-serial"), rows());
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(html.contains("EP &lt;test&gt;"), "titles are escaped");
        for (String external : List.of("<script src", "<link", "@import", "https://cdn")) {
            assertFalse(html.contains(external), "nothing fetched: found " + external);
        }
        // the table shows the rows' values (EP layer in ms, speedup and range, bound)
        assertTrue(html.contains("<td>3.500</td>") && html.contains("<td>1.60</td><td>1.40-1.75</td><td>1.50</td>"), "table values");
        // tooltips name the cell; the straggler is marked in its layer
        assertTrue(html.contains("layer 0, expert 0: 10 pairs") && html.contains("layer 0, expert 0: 5 pairs"));
        assertTrue(html.contains("layer 0, device 0 (straggler)") && html.contains("layer 1, device 1 (straggler)"));
        assertTrue(html.contains("\"renderItem\":\"errorBarY\"") && html.contains("\"formatter\":\"1.0x\""), "range and 1.0x line");
    }

    @Test
    void everyChartRendersInHeadlessChromium(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("ep.html");
        Files.writeString(file, EpReport.render("EP report", List.of("mode timed-serial"), rows()));
        // speedup + heatmaps: experts before (none) and after (2 policies), devices (2 policies)
        HeadlessChromium.Rendered r = HeadlessChromium.check(file, 1 + 3 + 2);
        System.out.println("EpReportTest: " + r.chartsRendered() + " charts rendered in headless Chromium, SVG shapes per chart "
                + r.shapesPerChart());
    }
}
