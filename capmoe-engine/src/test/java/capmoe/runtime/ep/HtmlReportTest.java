package capmoe.runtime.ep;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The report is self-contained and marks the right device as the straggler. */
class HtmlReportTest {

    static LayerRecord record(int layer, int[] before, int[] after, long[] nanos) {
        LayerTiming t = new LayerTiming(layer, EpMode.TIMED_SERIAL, 10, nanos, 0, new int[nanos.length], 0, 0);
        int[] db = {before[0] + before[1], before[2] + before[3]};
        int[] da = {after[0] + after[1], after[2] + after[3]};
        return new LayerRecord(0, layer, before, after, db, da, t);
    }

    @Test
    void selfContainedWithHeatmapsAndStragglerBars() {
        PolicyRun none = new PolicyRun("none", List.of(
                record(0, new int[]{10, 2, 4, 4}, new int[]{10, 2, 4, 4}, new long[]{3_000_000, 1_000_000}),
                record(1, new int[]{1, 1, 9, 9}, new int[]{1, 1, 9, 9}, new long[]{500_000, 4_000_000})));
        PolicyRun capped = new PolicyRun("score@1.0", List.of(
                record(0, new int[]{10, 2, 4, 4}, new int[]{5, 2, 4, 4}, new long[]{2_000_000, 1_000_000}),
                record(1, new int[]{1, 1, 9, 9}, new int[]{1, 1, 5, 5}, new long[]{500_000, 2_000_000})));
        String html = HtmlReport.render("EP <test>", List.of("mode timed-serial"), List.of(none, capped));
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(html.contains("EP &lt;test&gt;"), "titles are escaped");
        for (String external : List.of("<script", "src=", "href=", "<link", "@import")) {
            assertFalse(html.contains(external), "nothing external or scripted: found " + external);
        }
        assertEquals(3 + 2, count(html, "<svg"), "3 heatmaps (before + 2 after) and 2 bar charts");
        // layer 0's straggler is device 0, layer 1's is device 1, in both runs
        assertTrue(html.contains("fill=\"#d62728\"><title>layer 0, device 0"));
        assertTrue(html.contains("fill=\"#d62728\"><title>layer 1, device 1"));
        assertTrue(html.contains("layer 0, expert 0: 10 pairs (2.00x balanced)"));
        assertTrue(html.contains("layer 0, expert 0: 5 pairs (1.00x balanced)"), "after the cap");
    }

    @Test
    void colourScaleRunsFromWhiteThroughYellowToDarkRed() {
        assertEquals("#ffffff", HtmlReport.color(0));
        assertEquals("#ffff50", HtmlReport.color(1));
        assertEquals("#8c0000", HtmlReport.color(3));
        assertEquals("#8c0000", HtmlReport.color(10));
    }

    static int count(String s, String sub) {
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) n++;
        return n;
    }
}
