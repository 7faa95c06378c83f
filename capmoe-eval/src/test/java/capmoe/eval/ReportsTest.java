package capmoe.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import capmoe.testing.HeadlessChromium;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The lm-eval-shaped JSON, the Markdown table and the HTML report, on results made by hand. */
class ReportsTest {

    static TaskResult result(String task, String policy, double acc, long maxDeviceLoad, long kept, long assigned) {
        Map<String, Double> metrics = new LinkedHashMap<>();
        Map<String, Double> stderrs = new LinkedHashMap<>();
        metrics.put("acc", acc);
        stderrs.put("acc", 0.01);
        metrics.put("acc_norm", acc + 0.01);
        stderrs.put("acc_norm", 0.02);
        var load = new LoadRecorder.LoadSummary(12, kept, assigned, 1.0 - (double) kept / assigned, 1.5, maxDeviceLoad, 8, 0, 1.2);
        return new TaskResult(task, policy, 100, metrics, stderrs, load, null);
    }

    static TaskResult wikitext(String policy, double ppl) {
        Map<String, Double> metrics = new LinkedHashMap<>();
        Map<String, Double> stderrs = new LinkedHashMap<>();
        metrics.put("word_perplexity", ppl);
        metrics.put("byte_perplexity", 2.0);
        metrics.put("bits_per_byte", 1.0);
        for (String m : metrics.keySet()) stderrs.put(m, Double.NaN);
        var load = new LoadRecorder.LoadSummary(6, 90, 100, 0.1, 2.0, 400, 8, 0, 1.1);
        return new TaskResult("wikitext", policy, 3, metrics, stderrs, load, null);
    }

    static EvalResults sample() {
        Map<String, Map<String, TaskResult>> by = new LinkedHashMap<>();
        by.put("none", new LinkedHashMap<>(Map.of("piqa", result("piqa", "none", 0.70, 600, 100, 100))));
        by.get("none").put("wikitext", wikitext("none", 30.0));
        by.put("score@1.0", new LinkedHashMap<>(Map.of("piqa", result("piqa", "score@1.0", 0.65, 300, 70, 100))));
        by.get("score@1.0").put("wikitext", wikitext("score@1.0", 33.0));
        by.put("score@2.0", new LinkedHashMap<>(Map.of("piqa", result("piqa", "score@2.0", 0.69, 400, 90, 100))));
        return new EvalResults(by, new Evaluator.Config(2048, 8, 0, 8));
    }

    @Test
    void jsonHasLmEvalKeysAndValidates() {
        EvalResults r = sample();
        ObjectNode doc = ResultsJson.forPolicy(r, "score@1.0", Map.of("model", "m"));
        assertEquals(0.65, doc.at("/results/piqa/acc,none").asDouble(), 0);
        assertEquals(0.01, doc.at("/results/piqa/acc_stderr,none").asDouble(), 0);
        assertEquals("N/A", doc.at("/results/wikitext/word_perplexity_stderr,none").asText());
        assertEquals(100, doc.at("/n-samples/piqa/effective").asInt());
        // speedup bound: 600 / 300 busiest-device pairs
        assertEquals(2.0, doc.at("/routing/piqa/ep_speedup_bound").asDouble(), 1e-12);
        assertEquals(0.3, doc.at("/routing/piqa/dropped_fraction").asDouble(), 1e-12);
        assertEquals(List.of(), ResultsJson.validate(doc));
        ObjectNode all = ResultsJson.combined(r, Map.of("model", "m"));
        for (String p : r.policies()) assertEquals(List.of(), ResultsJson.validate(all.get("results_by_policy").get(p)));
    }

    @Test
    void validatorCatchesMissingStderrAndNonNumbers() throws Exception {
        JsonNode bad = new ObjectMapper().readTree("{\"results\": {\"piqa\": {\"alias\": \"piqa\", \"acc,none\": \"x\"},"
                + " \"boolq\": {\"alias\": \"boolq\"}}}");
        List<String> problems = ResultsJson.validate(bad);
        assertTrue(problems.contains("results.piqa.acc,none is not a number"), problems.toString());
        assertTrue(problems.contains("results.piqa.acc_stderr,none is missing"), problems.toString());
        assertTrue(problems.contains("results.boolq has no <metric>,none entry"), problems.toString());
        assertFalse(ResultsJson.validate(new ObjectMapper().readTree("{}")).isEmpty());
    }

    @Test
    void markdownHasARowPerPolicyWithStderrAndLoad() {
        String md = MarkdownReport.render(sample());
        assertTrue(md.contains("### piqa (n=100)"), md);
        assertTrue(md.contains("| score@1.0 | 0.6500 ± 0.0100 | 0.6600 ± 0.0200 | 30.00% | 0.00% | 1.50 | 1.20 | 2.00x |"), md);
        // perplexities have no stderr in lm-eval, so none is shown
        assertTrue(md.contains("| none | 30.0000 | 2.0000 | 1.0000 | 10.00% | 0.00% | 2.00 | 1.10 | 1.00x |"), md);
    }

    @Test
    void htmlIsSelfContainedWithItsCharts() {
        String html = EvalReport.render(sample(), "capmoe eval");
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(html.contains("piqa: acc vs capacity factor"), "quality vs gamma per scorer");
        assertTrue(html.contains("piqa: acc vs EP speedup bound"), "speedup vs quality");
        assertTrue(html.contains("piqa: EP speedup bound over none") && html.contains("\"formatter\":\"1.0x\""), "bound bars, 1.0x line");
        assertFalse(html.contains("<script src") || html.contains("<link"), "nothing fetched");
        String ours = html.substring(0, html.indexOf("<script>")) + html.substring(html.indexOf("var options=["));
        assertFalse(ours.contains("NaN"), "no NaN in the page's text and chart data");
    }

    @Test
    void everyChartRendersInHeadlessChromium(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("report.html");
        Files.writeString(file, EvalReport.render(sample(), "capmoe eval"));
        // per task: quality vs gamma (piqa has score@ and order@; wikitext too), speedup bars, quality vs speedup
        HeadlessChromium.Rendered r = HeadlessChromium.check(file, 6);
        System.out.println("ReportsTest: " + r.chartsRendered() + " charts rendered in headless Chromium, SVG shapes per chart "
                + r.shapesPerChart());

        // measured EP speedups: error bars for the range, the bound beside them, a flag above the bound
        Map<String, Map<String, TaskResult>> by = new LinkedHashMap<>();
        EvalResults plain = sample();
        double[][] speedups = {{1, 1, 1}, {3.1, 2.9, 3.3}, {1.4, 1.2, 1.5}};
        for (int i = 0; i < plain.policies().size(); i++) {
            String p = plain.policies().get(i);
            Map<String, TaskResult> m = new LinkedHashMap<>();
            for (var e : plain.byPolicy().get(p).entrySet()) {
                m.put(e.getKey(), e.getValue().withEp(1e-3, new capmoe.runtime.ep.EpReplay.Speedup(speedups[i][0], speedups[i][1], speedups[i][2])));
            }
            by.put(p, m);
        }
        EvalResults measured = new EvalResults(by, plain.config());
        assertTrue(measured.aboveBound("score@1.0", "piqa"), "3.1x against a bound of 2.0x");
        String html = EvalReport.render(measured, "capmoe eval --ep");
        assertTrue(html.contains("3.10x (2.90-3.30) !") && html.contains("\"renderItem\":\"errorBarX\""), "flag and error bars");
        Files.writeString(file, html);
        HeadlessChromium.check(file, 6);
    }

    @Test
    void aSecondRunIntoTheSameDirectoryLeavesNoStaleFiles(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        ReportFiles.write(sample(), Map.of(), out, "first");
        assertTrue(Files.isRegularFile(out.resolve("results_score@2.0.json")));
        Map<String, Map<String, TaskResult>> by = new LinkedHashMap<>(sample().byPolicy());
        by.remove("score@2.0");
        ReportFiles.write(new EvalResults(by, sample().config()), Map.of(), out, "second");
        assertFalse(Files.exists(out.resolve("results_score@2.0.json")), "the first run's policy file is gone");
        assertTrue(Files.isRegularFile(out.resolve("results_score@1.0.json")));
        try (var files = Files.list(out)) {
            assertEquals(List.of(), files.filter(f -> f.getFileName().toString().endsWith(".tmp")).toList(), "no temporary files left");
        }
    }
}
