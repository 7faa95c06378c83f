package capmoe.runtime.dist;

import capmoe.runtime.mpi.MpiRun;
import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DistEpBench} under a real {@code mpirun -np 2} on the olmoe fixture: every rank measured
 * the same calls, only rank 0 printed and wrote, the baseline's speedup and bound are exactly 1,
 * and the JSON holds the console's figures.
 */
class DistEpBenchTest {

    @Test
    void ranksMeasureTheSameCallsAndRankZeroReports(@TempDir Path out) throws IOException {
        Path model = Shared.require("fixtures/hf/olmoe");
        MpiRun.Result r = MpiRun.of(DistEpBenchRankMain.class, model.toString(), "none,score@1.0", "64", "16", "2", "2",
                out.toString()).ranks(2).timeout(Duration.ofSeconds(180)).run().assertSucceeded();
        String calls0 = r.rankLine(0, "rank 0 calls ").orElseThrow(() -> new AssertionError(r.all()));
        String calls1 = r.rankLine(1, "rank 1 calls ").orElseThrow(() -> new AssertionError(r.all()));
        assertEquals(calls0.substring("rank 0".length()), calls1.substring("rank 1".length()), r.all());
        assertTrue(r.rankOutput(0).contains("prefill (") && r.rankOutput(0).contains("decode ("), r.all());
        assertTrue(!r.rankOutput(1).contains("prefill ("), "rank 1 printed the table:\n" + r.all());

        JsonNode json = new ObjectMapper().readTree(out.resolve("ep-bench.json").toFile());
        assertEquals(2, json.get("ranks").asInt());
        JsonNode none = json.get("prefill").get(0);
        assertEquals("none", none.get("policy").asText());
        assertEquals(1.0, none.get("speedup_median").asDouble());
        assertEquals(1.0, none.get("load_bound").asDouble());
        JsonNode layers = none.get("per_layer_per_rank_ms_per_call");
        assertEquals(json.get("prefill").get(0).get("moe_layer_calls").asInt() / 2, layers.size() * 1,
                "one entry per MoE layer (2 measured batches): " + layers);
        double waitSum = 0;
        for (JsonNode l : layers) for (JsonNode rank : l.get("ranks")) waitSum += rank.get("wait").asDouble();
        double meanWait = 0;
        for (JsonNode rank : none.get("per_rank_ms_per_call")) meanWait += rank.get("wait").asDouble();
        assertEquals(meanWait, waitSum / layers.size(), 1e-9 * Math.max(1, meanWait), "per-layer means average to the per-rank mean");
        JsonNode score = json.get("prefill").get(1);
        assertTrue(score.get("load_bound").asDouble() >= 1.0, "capacity cannot raise the max rank load: " + score);
        String line = r.ranks().get(0).stream().filter(l -> l.startsWith("score@1.0 ")).findFirst().orElseThrow();
        assertTrue(line.contains(String.format(java.util.Locale.ROOT, "%.2f", score.get("load_bound").asDouble())),
                "console and JSON disagree: " + line + " vs " + score);
        assertTrue(Files.readString(out.resolve("ep-bench.html")).contains("Timeline of one MoE layer call"));
        try (var files = Files.list(out)) {
            assertEquals(2, files.count(), "only the two reports, no temporary files");
        }
    }
}
