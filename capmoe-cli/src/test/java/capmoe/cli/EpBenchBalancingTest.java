package capmoe.cli;

import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ep-bench's balancing rows on the trained olmoe-tiny: replication, the uniform row, prefill and decode apart. */
class EpBenchBalancingTest {
    @TempDir Path dir;

    CliRun bench(String policies, String... extra) {
        String[] base = {"ep-bench", "--model", Shared.require("models/olmoe-tiny").toString(),
                "--text", Shared.require("data/wikitext-2/test.txt").toString(), "--devices", "8", "--policies", policies,
                "--tokens", "96", "--seq-len", "32", "--batches", "1", "--warmup", "0", "--repeats", "1", "--replay-warmup", "0",
                "--decode-steps", "2", "--json", dir.resolve("b.json").toString(), "--html", dir.resolve("b.html").toString()};
        return CliRun.of(base, extra);
    }

    @Test
    void replicationUniformRowAndDecodeStepsAreReported() throws Exception {
        Path trace = dir.resolve("none.trace");
        CliRun r = bench("none,replicate@8,replicate@8+score@1.5", "--trace", trace.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("decode: speedup") && r.out().contains("extra/device") && r.out().contains("uniform (ideal)"), r.out());
        JsonNode json = new ObjectMapper().readTree(dir.resolve("b.json").toFile());
        assertEquals(2, json.get("decodeSteps").asInt());
        JsonNode ps = json.get("policies");
        assertEquals(4, ps.size(), "none, 2 replicated, uniform");
        JsonNode none = ps.get(0), rep = ps.get(1), both = ps.get(2), uniform = ps.get(3);
        assertEquals("uniform (ideal)", uniform.get("policy").asText());
        assertEquals(0.0, rep.get("droppedFraction").asDouble(), 0, "replication drops nothing");
        assertEquals(1, rep.get("extraSlotsPerDevice").asInt(), "40 replicas over 8 devices: 5, one more than 32/8");
        assertEquals(3L * 192 * 96 * 2, rep.get("extraBytesPerDevice").asLong(), "one olmoe-tiny expert: gate, up, down 192x96, bf16");
        assertTrue(rep.get("bound").asDouble() > 1.0, "EPLB lowers the busiest device: " + rep);
        assertTrue(rep.get("deviceMaxOverMeanAfter").asDouble() < none.get("deviceMaxOverMeanAfter").asDouble(), rep.toString());
        assertTrue(both.get("droppedFraction").asDouble() > 0, both.toString());
        assertTrue(uniform.get("deviceMaxOverMeanAfter").asDouble() < 1.05, uniform.toString());
        for (int i = 0; i < 3; i++) {
            JsonNode d = ps.get(i).get("decode");
            assertEquals(2 * 6, d.get("calls").asInt(), "2 decode steps x 6 MoE layers");
        }
        assertEquals(1.0, none.get("decode").get("speedupVsNone").asDouble(), 0);
        assertTrue(Files.readString(dir.resolve("b.html")).contains("Prefill and decode"));

        // the same replicas placed from the recorded trace instead of the warm-up batches
        r = bench("none,replicate@8", "--replicate-trace", trace.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("from the trace " + trace), r.out());
        r = bench("none,replicate@8", "--replicate-trace", dir.resolve("missing.trace").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("missing.trace"), r.err());
    }
}
