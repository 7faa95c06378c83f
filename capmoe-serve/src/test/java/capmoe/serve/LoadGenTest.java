package capmoe.serve;

import capmoe.routing.Policy;
import capmoe.testing.HeadlessChromium;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The load generator against real servers: what it counts matches the workload and the server's own counters. */
class LoadGenTest {
    static final List<String> PROMPTS = List.of("The old house", "Once upon a time", "The captain looked at the sea");

    @Test
    void measuresEveryRequestOfTheWorkload() {
        try (OpenAiServer server = OpenAiServer.start(ServeOptions.defaults(Shared.require("models/olmoe-tiny")).withSlots(4, 64, 16))) {
            LoadGen.Result r = LoadGen.run(new LoadGen.Config(server.url(), 3, 6, PROMPTS, 8, 0, true), null);
            assertEquals(6, r.completed());
            assertEquals(0, r.failed(), r.errors().toString());
            assertEquals(48, r.outputTokens(), "ignore_eos: every request makes max_tokens");
            assertEquals(48, Http.series(Http.metrics(server.url()), "capmoe_generation_tokens_total"), "the server counted the same tokens");
            assertTrue(r.ttft().p50() > 0 && r.ttft().p50() <= r.ttft().p99() && r.ttft().p99() <= r.latency().p99());
            assertTrue(r.tpot().p50() > 0 && Double.isFinite(r.tpot().p99()));
            assertEquals(r.outputTokens() / r.wallSeconds(), r.throughput(), 1e-9);
            assertTrue(r.moe().decodeSteps() > 0);
            assertTrue(r.moe().tokensPerDecodeStep() >= 1 && r.moe().tokensPerDecodeStep() <= 3, "concurrency 3: " + r.moe().tokensPerDecodeStep());
            assertEquals(1.0, r.moe().epBound(), "none keeps every pair");
        }
        var e = assertThrows(IllegalArgumentException.class, () -> LoadGen.run(new LoadGen.Config("http://127.0.0.1:9", 1, 1, PROMPTS, 4, 0, true), null));
        assertTrue(e.getMessage().contains("cannot reach http://127.0.0.1:9/metrics"), e.getMessage());
    }

    @Test
    void percentilesInterpolateLinearlyAsNumpy() {
        // numpy.percentile([1, 2, 3, 4, 10], [50, 95, 99]) = [3.0, 8.8, 9.76]
        LoadGen.Percentiles p = LoadGen.Percentiles.of(new double[] {10, 2, Double.NaN, 4, 1, 3});
        assertEquals(3.0, p.p50(), 1e-12);
        assertEquals(8.8, p.p95(), 1e-12);
        assertEquals(9.76, p.p99(), 1e-12);
        assertEquals(4.0, p.mean(), 1e-12);
    }

    @Test
    void comparisonRunsEveryPolicyOnTheSameWorkloadAndWritesOneReport(@TempDir Path dir) throws Exception {
        // two devices: the experts run through the in-process EP runtime, whose critical path is counted
        ServeOptions base = ServeOptions.defaults(Shared.require("models/olmoe-tiny")).withSlots(4, 64, 16).withDevices(2, "timed-serial");
        LoadGen.Config workload = new LoadGen.Config("http://unused", 4, 8, PROMPTS, 6, 0, true);
        List<ServeComparison.Run> runs = ServeComparison.run(base, List.of(new Policy.None(), Policy.parse("score@1.0")), workload, 2, null);
        assertEquals(List.of("none", "score@1.0"), runs.stream().map(ServeComparison.Run::policy).toList());
        for (ServeComparison.Run r : runs) {
            assertEquals(8, r.result().completed(), r.policy());
            assertEquals(48, r.result().outputTokens(), r.policy());
            assertTrue(r.result().moe().epCriticalPathMsPerDecodeStep() > 0, r.policy());
            assertEquals(2, r.result().moe().devices());
        }
        assertEquals(0, runs.get(0).result().moe().droppedFraction());
        assertEquals(1.0, runs.get(0).identicalToBaseline(), "the baseline against itself");
        assertEquals(1.0, runs.get(0).prefixAgreement());
        assertTrue(runs.get(1).prefixAgreement() >= 0 && runs.get(1).prefixAgreement() <= 1);
        assertTrue(runs.get(1).result().moe().droppedFraction() > 0, "score@1.0 drops at decode steps of 4 tokens");
        assertTrue(runs.get(1).result().moe().expertMaxOverMeanKept() < runs.get(1).result().moe().expertMaxOverMeanRouted());
        ServeComparison.write(dir, base, workload, runs);
        String html = Files.readString(dir.resolve("report.html"));
        assertTrue(html.contains("<td>score@1.0</td>") && html.contains("echarts"), "table and charts (ECharts inlined)");
        // TTFT, TPOT, throughput, routed vs kept, EP bound, EP critical path (2 devices): each drawn in a real browser
        HeadlessChromium.check(dir.resolve("report.html"), 6);
        var json = Http.JSON.readTree(dir.resolve("loadgen.json").toFile());
        assertEquals(2, json.get("runs").size());
        assertEquals(runs.get(1).result().throughput(), json.get("runs").get(1).get("result").get("throughput").doubleValue(), 0.0,
                "one number, one computation: the JSON holds the record's value");
        assertTrue(Files.list(dir).noneMatch(p -> p.toString().endsWith(".tmp")));
    }
}
