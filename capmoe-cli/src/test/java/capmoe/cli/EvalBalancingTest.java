package capmoe.cli;

import capmoe.testing.HeadlessChromium;
import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code eval --ep} on the trained olmoe-tiny with replicated policies and decode steps: replicated
 * scores equal their inner policy's to the last bit, and the console, JSON and HTML show prefill
 * and decode from one computation.
 */
class EvalBalancingTest {
    @TempDir Path dir;

    private CliRun eval(Path out, String policies, String... extra) {
        String[] base = {"eval", "--model", Shared.require("models/olmoe-tiny").toString(), "--tasks", "wikitext-windows",
                "--data-dir", Shared.require("data").toString(), "--windows", "4", "--seq", "64", "--batch", "2",
                "--devices", "8", "--policies", policies, "--out", out.toString(), "--quiet"};
        return CliRun.of(base, extra);
    }

    @Test
    void replicatedPoliciesScoreAsTheirInnerPolicyAndEveryReportShowsPrefillAndDecode() throws Exception {
        Path out = dir.resolve("ep");
        CliRun r = eval(out, "none,score@1.5,replicate@4,replicate@4+score@1.5", "--ep", "--repeats", "1", "--decode-steps", "2");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode all = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        JsonNode none = all.at("/results_by_policy/none"), score = all.at("/results_by_policy/score@1.5");
        JsonNode rep = all.at("/results_by_policy/replicate@4"), both = all.at("/results_by_policy/replicate@4+score@1.5");
        String ppl = "/results/wikitext-windows/perplexity,none";
        // the same pairs on other devices: the same logits, so the same perplexity to the last bit
        assertEquals(none.at(ppl).asDouble(), rep.at(ppl).asDouble(), 0, "replicate@4 scores as none");
        assertEquals(score.at(ppl).asDouble(), both.at(ppl).asDouble(), 0, "replicate@4+score@1.5 scores as score@1.5");
        assertNotEquals(none.at(ppl).asDouble(), score.at(ppl).asDouble(), "score@1.5 drops pairs");
        String load = "/routing/wikitext-windows/";
        assertEquals(0.0, rep.at(load + "dropped_fraction").asDouble(), 0);
        assertEquals(score.at(load + "dropped_fraction").asDouble(), both.at(load + "dropped_fraction").asDouble(), 0);
        // replication evens the devices out: device max/mean falls, the bound rises above 1
        assertTrue(rep.at(load + "mean_device_max_over_mean_load").asDouble() < none.at(load + "mean_device_max_over_mean_load").asDouble(),
                rep.at("/routing").toString());
        assertTrue(rep.at(load + "ep_speedup_bound").asDouble() > 1, rep.at("/routing").toString());
        assertEquals(none.at(load + "mean_max_over_mean_load").asDouble(), rep.at(load + "mean_max_over_mean_load").asDouble(), 0,
                "the expert loads are none's: only the devices change");
        assertEquals(1, rep.at("/replication/extra_experts_per_device").asInt(), "12 replicas over 8 devices: at most one beyond 32/8");
        assertEquals(3L * 192 * 96 * 2, rep.at("/replication/extra_bytes_per_device").asLong(), "one olmoe-tiny expert in bf16");
        assertTrue(none.at("/replication").isMissingNode(), "none holds no replicas");
        assertEquals("none's routing of this evaluation (in-sample)", all.at("/config/replicas_placed_from").asText());

        // decode apart from prefill: its own loads, bound and measured speedup (2 steps x 2 batches x 6 layers)
        JsonNode decode = score.at(load + "decode");
        assertEquals(2, decode.get("steps").asInt());
        assertEquals(1.0, none.at(load + "decode/ep_speedup").asDouble(), 0, "none against itself, repeat by repeat");
        assertTrue(decode.get("ep_speedup").isNumber() && decode.get("ep_speedup_bound").isNumber(), decode.toString());
        assertNotEquals(score.at(load + "ep_speedup_bound").asDouble(), decode.get("ep_speedup_bound").asDouble(),
                "decode calls (2 tokens) balance differently from the 128-token prefill calls");

        // one computation, three outputs: the console's row, results.md and report.html carry the JSON's values
        String row = r.out().lines().filter(l -> l.startsWith("score@1.5 ")).reduce((a, b) -> b).orElseThrow();
        String decodeBound = String.format(Locale.ROOT, "%.2fx", decode.get("ep_speedup_bound").asDouble());
        String decodeSpeedup = String.format(Locale.ROOT, "%.2fx", decode.get("ep_speedup").asDouble());
        String prefillBound = String.format(Locale.ROOT, "%.2fx", score.at(load + "ep_speedup_bound").asDouble());
        assertTrue(row.contains(decodeBound) && row.contains(decodeSpeedup) && row.contains(prefillBound), row + "\n" + r.out());
        assertTrue(r.out().contains("dec.bound") && r.out().contains("extra/device"), r.out());
        String repRow = r.out().lines().filter(l -> l.startsWith("replicate@4 ")).reduce((a, b) -> b).orElseThrow();
        assertTrue(repRow.contains("1 expert (0.1 MB)") && repRow.contains("+0.00%"), repRow);
        String md = Files.readString(out.resolve("results.md"));
        assertTrue(md.contains("decode bound") && md.contains(decodeBound) && md.contains(decodeSpeedup), md);
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("EP speedup over none (decode steps) (measured vs bound)") && html.contains(decodeBound)
                && html.contains("1 expert (0.1 MB)"), "decode chart and table in the page");
        // per task: quality vs gamma, prefill speedups, decode speedups, quality vs speedup
        HeadlessChromium.check(out.resolve("report.html"), 4);

        // without --ep there is nothing to time: decode steps are refused with one line
        CliRun bad = eval(dir.resolve("bad"), "none", "--decode-steps", "2");
        assertEquals(2, bad.exitCode());
        assertEquals("capmoe eval: error: --decode-steps times decode steps through the expert-parallel runtime: add --ep", bad.err().strip());
    }

    @Test
    void replicasFromATraceAndWithoutEpTiming() throws Exception {
        Path trace = dir.resolve("none.trace");
        CliRun rec = CliRun.of("ep-bench", "--model", Shared.require("models/olmoe-tiny").toString(),
                "--text", Shared.require("data/wikitext-2/test.txt").toString(), "--devices", "8", "--policies", "none",
                "--tokens", "64", "--seq-len", "32", "--batches", "1", "--warmup", "0", "--repeats", "1", "--replay-warmup", "0",
                "--decode-steps", "0", "--trace", trace.toString(), "--json", dir.resolve("b.json").toString(),
                "--html", dir.resolve("b.html").toString());
        assertEquals(0, rec.exitCode(), rec.err());
        Path out = dir.resolve("trace");
        CliRun r = eval(out, "none,replicate@8", "--replicate-trace", trace.toString());
        assertEquals(0, r.exitCode(), r.err());
        JsonNode all = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(trace.toString(), all.at("/config/replicas_placed_from").asText());
        assertTrue(r.out().contains("placed from the trace " + trace), r.out());
        assertFalse(r.out().contains("dec.bound"), "no decode steps without --ep");
        String ppl = "/results/wikitext-windows/perplexity,none";
        assertEquals(all.at("/results_by_policy/none" + ppl).asDouble(), all.at("/results_by_policy/replicate@8" + ppl).asDouble(), 0);

        // serve places no replicas: refused with one line before anything starts
        CliRun serve = CliRun.of("serve", "--model", Shared.require("models/olmoe-tiny").toString(), "--policy", "replicate@8+score@1.5");
        assertEquals(2, serve.exitCode());
        assertTrue(serve.err().contains("--policy replicate@8+score@1.5: replicas (EPLB) are placed by ep-bench, eval and demo from a "
                + "routing trace; serve does not place them (use score@1.5)"), serve.err());

        CliRun noReplicas = eval(dir.resolve("x"), "none,score@1.0", "--replicate-trace", trace.toString());
        assertEquals(2, noReplicas.exitCode());
        assertTrue(noReplicas.err().contains("--replicate-trace places replicate@N policies' replicas, but --policies has none"),
                noReplicas.err());
    }
}
