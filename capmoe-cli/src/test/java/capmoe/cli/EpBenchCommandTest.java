package capmoe.cli;

import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceReader;
import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ep-bench and simulate on the trained olmoe-tiny with WikiText-2: outputs, accounting, bad input. */
class EpBenchCommandTest {
    @TempDir Path dir;

    record Result(int code, String out, String err) { }

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = new CommandLine(new Main()).setExecutionExceptionHandler(new CleanErrors())
                .setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true)).execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    String[] bench(String mode, int devices, String... extra) {
        String[] base = {"ep-bench", "--model", Shared.require("models/olmoe-tiny").toString(),
                "--text", Shared.require("data/wikitext-2/test.txt").toString(), "--devices", String.valueOf(devices),
                "--mode", mode, "--policies", "none,score@1.0", "--tokens", "96", "--seq-len", "32", "--batches", "2",
                "--warmup", "0", "--json", dir.resolve("b.json").toString(), "--html", dir.resolve("b.html").toString()};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return all;
    }

    @Test
    void timedSerialBenchPrintsTheTableAndWritesJsonHtmlAndTrace() throws Exception {
        Path trace = dir.resolve("b.trace");
        Result r = run(bench("timed-serial", 8, "--trace", trace.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("mode timed-serial, D=8 devices"), r.out());
        assertTrue(r.out().matches("(?s).*\\nnone\\s+-\\s+0\\.00\\s.*"), "none drops nothing:\n" + r.out());
        assertTrue(r.out().matches("(?s).*\\nscore@1\\.0\\s+1\\.0\\s.*"), r.out());
        assertTrue(r.err().contains("tokens/s") && r.err().contains("ETA"), "progress on stderr: " + r.err());

        JsonNode json = new ObjectMapper().readTree(dir.resolve("b.json").toFile());
        assertEquals("timed-serial", json.get("mode").asText());
        assertEquals(3, json.get("policies").size(), "none, score@1.0 and the uniform (ideal) row");
        for (JsonNode p : json.get("policies")) {
            // 2 batches x 6 MoE layers; per device loads add up to the per expert loads; EP time >= critical path
            assertEquals(12, p.get("layerCalls").size());
            for (JsonNode call : p.get("layerCalls")) {
                assertEquals(sum(call.get("expertLoadAfter")), sum(call.get("deviceLoadAfter")));
                assertEquals(sum(call.get("expertLoadBefore")), sum(call.get("deviceLoadBefore")));
                assertEquals(96 * 4, sum(call.get("expertLoadBefore")), "T x k pairs before the policy");
                double max = 0;
                for (JsonNode s : call.get("deviceSeconds")) max = Math.max(max, s.asDouble());
                assertEquals(max, call.get("criticalPathSeconds").asDouble(), 1e-9, "timed-serial: critical path = slowest device");
            }
        }
        JsonNode none = json.get("policies").get(0);
        assertEquals("none", none.get("policy").asText());
        assertEquals(0.0, none.get("droppedFraction").asDouble());
        assertEquals(1.0, none.get("speedupVsNone").asDouble(), 0);
        assertEquals(1.0, none.get("speedupMin").asDouble(), 0, "none against itself, repeat by repeat");
        assertEquals(1.0, none.get("speedupMax").asDouble(), 0);
        assertEquals(5, json.get("repeats").asInt());
        for (JsonNode p : json.get("policies")) {
            // every repeat timed every call once; the speedup is the median repeat's, inside the range of repeats
            assertEquals(5, p.get("epSecondsPerRepeat").size());
            assertTrue(p.get("speedupMin").asDouble() <= p.get("speedupVsNone").asDouble()
                    && p.get("speedupVsNone").asDouble() <= p.get("speedupMax").asDouble(), p.toString());
            assertEquals(p.get("epSeconds").asDouble() / 12, p.get("epSecondsPerLayer").asDouble(), 1e-12);
        }
        assertTrue(json.get("policies").get(1).get("droppedFraction").asDouble() > 0);

        String html = Files.readString(dir.resolve("b.html"));
        for (JsonNode p : json.get("policies")) {
            // one definition of "EP layer": the console, the JSON and the HTML show the same value
            String ms = String.format(java.util.Locale.ROOT, "%.3f", 1e3 * p.get("epSecondsPerLayer").asDouble());
            String speedup = String.format(java.util.Locale.ROOT, "%.2f", p.get("speedupVsNone").asDouble());
            String row = r.out().lines().filter(l -> l.startsWith(p.get("policy").asText() + " ")).findFirst().orElseThrow();
            assertTrue(row.contains(" " + ms + " ") && row.contains(" " + speedup + " "), ms + " " + speedup + " in " + row);
            assertTrue(html.contains(">" + ms + "<") && html.contains(">" + speedup + "<"), ms + " " + speedup + " in the HTML");
        }

        RoutingTrace t = TraceReader.read(trace);
        assertEquals(32, t.header().experts());
        assertEquals(4, t.header().topK());
        assertEquals(12, t.records().size(), "the none run's 2 batches x 6 layers");

        Result sim = run("simulate", "--trace", trace.toString(), "--cost-a-us", "20", "--cost-b-us", "1",
                "--json", dir.resolve("s.json").toString());
        assertEquals(0, sim.code(), sim.err());
        assertTrue(sim.out().contains("Speedup vs experts per device"), sim.out());
        JsonNode s = new ObjectMapper().readTree(dir.resolve("s.json").toFile());
        assertEquals(4 * 4, s.get("results").size(), "D = 4, 8, 16, 32 (8..1 experts per device) x the 4 default policies");
    }

    @Test
    void parallelModeRunsWithTwoDevices() {
        Result r = run(bench("parallel", 2));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("mode parallel, D=2 devices"), r.out());
        assertTrue(r.out().contains("measured wall time to the barrier"), r.out());
        assertTrue(r.out().contains("devices ran concurrently: sum of device times / wall time = "), r.out());
    }

    @Test
    void badInputGetsOneClearLine() {
        Result r = run(bench("timed-serial", 64));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--devices must be in 1..32 for 32 experts"), r.err());

        r = run(bench("serial", 2));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("expected parallel or timed-serial"), r.err());

        r = run("ep-bench", "--random-tokens");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("exactly one of --model DIR or --make-model DIR"), r.err());

        // a trace of olmoe-tiny (32 experts) calibrated on the OLMoE fixture (16 experts): rejected
        Path trace = dir.resolve("t.trace");
        assertEquals(0, run(bench("timed-serial", 2, "--trace", trace.toString(), "--repeats", "1")).code());
        r = run("simulate", "--trace", trace.toString(), "--model", Shared.require("fixtures/hf/olmoe").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("has 16 experts, top-4, but the trace") && r.err().contains("routes over 32 experts"), r.err());
        // the matching model calibrates: medians with their range, the fit's error per point and its spread
        Result ok = run("simulate", "--trace", trace.toString(), "--model", Shared.require("models/olmoe-tiny").toString(),
                "--devices", "2,4");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("(median of 15, range ") && ok.out().contains("fit spread: largest |fit - median| = "), ok.out());

        r = run("simulate", "--trace", dir.resolve("missing.trace").toString(), "--cost-a-us", "1", "--cost-b-us", "1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("missing.trace") && r.err().contains("cannot read"), r.err());
    }

    static long sum(JsonNode a) {
        long s = 0;
        for (JsonNode v : a) s += v.asLong();
        return s;
    }
}
