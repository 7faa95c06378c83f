package capmoe.cli;

import capmoe.routing.Gamma;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.RoutingSample;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceWriter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** simulate's replication, per-layer gamma fit and the paper sweep, end to end through the CLI. */
class SimulateCommandTest {
    @TempDir Path dir;

    /** 2 batches x 3 layers of skewed top-4 routing over 32 experts, recorded under none. */
    Path trace() {
        Path file = dir.resolve("skew.trace");
        RouterConfig config = RouterConfig.softmax(32, 4, false);
        try (TraceWriter w = new TraceWriter(file, new RoutingTrace.Header(32, 4, false, "none", "test"))) {
            for (int b = 0; b < 2; b++) {
                for (int l = 0; l < 3; l++) w.onRouting(l, new Router(config, new Policy.None(), null).route(RoutingSample.skewed(256, 32, 10 * b + l).logits(), 256));
            }
        }
        return file;
    }

    @Test
    void fitsOneGammaPerLayerAndRunsItBesideReplication() throws Exception {
        Path t = trace(), gammas = dir.resolve("gammas.txt");
        CliRun r = CliRun.of("simulate", "--trace", t.toString(), "--fit-gamma", "mass=0.05", "--write-gammas", gammas.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("layer 2: gamma"), r.out());
        Gamma.PerLayer g = Gamma.PerLayer.read(gammas);
        assertEquals(3, g.layers().length);
        for (double v : g.gammas()) assertTrue(v > 0 && v < 4, "gamma " + v);

        r = CliRun.of("simulate", "--trace", t.toString(), "--cost-a-us", "0", "--cost-b-us", "1", "--devices", "8",
                "--policies", "score@layers:" + gammas + ",score@auto:mass=0.05,replicate@8,replicate@8+score@1.5", "--json", dir.resolve("s.json").toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("extra slots/device"), r.out());
        JsonNode s = new ObjectMapper().readTree(dir.resolve("s.json").toFile());
        assertEquals(5, s.get("results").size());
        JsonNode rep = s.get("results").get(3);
        assertEquals("replicate@8", rep.get("policy").asText());
        assertEquals(0.0, rep.get("droppedFraction").asDouble());
        assertEquals(1, rep.get("extraSlotsPerDevice").asInt(), "40 slots over 8 devices");
        assertTrue(rep.get("bound").asDouble() > 1, rep.toString());
    }

    @Test
    void paperSweepWritesTheFigureWithThePapersNumbers() throws Exception {
        Path html = dir.resolve("sweep.html"), json = dir.resolve("sweep.json");
        CliRun r = CliRun.of("simulate", "--paper-sweep", "--sweep-tokens", "512", "--sweep-calls", "2",
                "--html", html.toString(), "--json", json.toString());
        assertEquals(0, r.exitCode(), r.err());
        String page = Files.readString(html);
        assertTrue(page.contains("echarts") && page.contains("Mixtral-8x7B") && page.contains("DeepSeek-V2-Lite") && page.contains("paper score@1.0"), "the figure: ECharts inlined, every shape, the paper's bars");
        capmoe.testing.HeadlessChromium.check(html, 4); // one chart per shape, each drawn in a real browser
        JsonNode cells = new ObjectMapper().readTree(json.toFile()).get("results");
        int paper = 0;
        for (JsonNode c : cells) {
            if (c.has("paper")) {
                paper++;
                assertTrue(c.get("policy").asText().startsWith("score@"), c.toString());
            }
            if (c.get("policy").asText().equals("none")) assertEquals(1.0, c.get("speedup").asDouble(), 0);
        }
        assertEquals(9, paper, "3 shapes x 3 gammas");
        assertTrue(r.out().contains("OLMoE-1B-7B              8    8 score@1.0"), r.out());
    }

    /**
     * The sweep's measured bars: ep-bench on a (tiny) Mixtral-shaped model, 8 experts top-2 at 1
     * per device, read back by --measured; the figure and JSON carry ep-bench's own numbers.
     */
    @Test
    void measuredSpeedupsFromEpBenchStandBesideTheSimulatedBars() throws Exception {
        Path bench = dir.resolve("mixtral.json");
        CliRun b = CliRun.of("ep-bench", "--make-model", dir.resolve("mixtral").toString(), "--shape", "mixtral-8x7b", "--hidden", "128",
                "--expert-width", "64", "--layers", "1", "--vocab", "256", "--devices", "8", "--policies", "score@1.0,replicate@8",
                "--tokens", "64", "--seq-len", "32", "--batches", "1", "--warmup", "0", "--repeats", "1", "--replay-warmup", "0",
                "--decode-steps", "0", "--json", bench.toString(), "--html", dir.resolve("b.html").toString());
        assertEquals(0, b.exitCode(), b.err());
        JsonNode run = new ObjectMapper().readTree(bench.toFile());
        assertEquals(8, run.get("experts").asInt());
        assertEquals(2, run.get("topK").asInt());
        Path html = dir.resolve("sweep.html"), json = dir.resolve("sweep.json");
        CliRun r = CliRun.of("simulate", "--paper-sweep", "--sweep-tokens", "256", "--sweep-calls", "1", "--measured", bench.toString(),
                "--html", html.toString(), "--json", json.toString());
        assertEquals(0, r.exitCode(), r.err());
        JsonNode measured = new ObjectMapper().readTree(json.toFile()).get("measured");
        assertEquals(2, measured.size(), "score@1.0 and replicate@D (none and the uniform row are left out)");
        assertEquals("Mixtral-8x7B", measured.get(0).get("shape").asText());
        assertEquals(1, measured.get(0).get("expertsPerDevice").asInt());
        assertEquals("replicate@D", measured.get(1).get("policy").asText(), "replicate@8 at 8 devices: one replica per device");
        assertEquals(run.at("/policies/1/speedupVsNone").asDouble(), measured.get(0).get("speedup").asDouble(), 0, "ep-bench's number");
        String page = Files.readString(html);
        assertTrue(page.contains("measured score@1.0") && page.contains("measured replicate@D") && page.contains("mixtral.json"), "bars and table");
        capmoe.testing.HeadlessChromium.check(html, 4);

        Path olmoeTiny = dir.resolve("tiny.json");
        Files.writeString(olmoeTiny, "{\"experts\": 32, \"topK\": 4, \"devices\": 8, \"policies\": []}");
        CliRun bad = CliRun.of("simulate", "--paper-sweep", "--sweep-tokens", "64", "--sweep-calls", "1", "--measured", olmoeTiny.toString());
        assertEquals(2, bad.exitCode());
        assertTrue(bad.err().contains("tiny.json: 32 experts top-4 is none of the sweep's shapes"), bad.err());
    }

    @Test
    void badInputGetsOneClearLine() {
        Path t = trace();
        CliRun r = CliRun.of("simulate", "--trace", t.toString(), "--fit-gamma", "mass=0.05");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--fit-gamma needs --write-gammas FILE"), r.err());
        r = CliRun.of("simulate", "--trace", t.toString(), "--fit-gamma", "maxmean=1.2", "--write-gammas", dir.resolve("g").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("needs --devices D"), r.err());
        r = CliRun.of("simulate", "--trace", t.toString(), "--fit-gamma", "drop=1", "--write-gammas", dir.resolve("g").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("expected mass=EPSILON or maxmean=TARGET"), r.err());
        r = CliRun.of("simulate");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("give --trace FILE (or --paper-sweep)"), r.err());
    }

    /** #13: expanded's dropped% was negative (1 - kept/top-k); now dropped of the top-k pairs, added in its own column. */
    @Test
    void expandedShowsDroppedOfTheTopKAndAddedApartNeverNegative() throws Exception {
        Path json = dir.resolve("x.json");
        CliRun r = CliRun.of("simulate", "--trace", trace().toString(), "--cost-a-us", "1", "--cost-b-us", "1", "--devices", "4",
                "--policies", "expanded@1.5", "--json", json.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("added%"), r.out());
        String row = r.out().lines().filter(l -> l.matches("\\s+4\\s+8 expanded@1.5.*")).findFirst().orElseThrow();
        assertTrue(!row.contains("-"), "no negative figure: " + row);
        JsonNode x = new ObjectMapper().readTree(json.toFile()).get("results").get(1);
        assertEquals("expanded@1.5", x.get("policy").asText());
        assertTrue(x.get("droppedFraction").asDouble() >= 0 && x.get("addedFraction").asDouble() > 0, x.toString());
    }

    @Test
    void aPaperSweepRefusesDevicesItWouldIgnore() {
        CliRun r = CliRun.of("simulate", "--paper-sweep", "--devices", "1000");
        assertEquals(2, r.exitCode(), r.err());
        assertEquals("capmoe simulate: error: --paper-sweep sets each shape's device counts itself; leave out --devices", r.err().strip());
    }
}
