package capmoe.cli;

import capmoe.eval.ResultsJson;
import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code capmoe eval} on the trained olmoe-tiny with the real PIQA and WikiText-2 files. */
class EvalCommandTest {
    @TempDir
    Path tmp;

    @Test
    void limitedPiqaAndWikitextRunsWriteValidResults() throws Exception {
        Path out = tmp.resolve("out");
        CliRun r = CliRun.of("eval", "--model", Shared.require("models/olmoe-tiny").toString(),
                "--tasks", "piqa,wikitext", "--data-dir", Shared.require("data").toString(),
                "--limit", "2", "--max-length", "128", "--policies", "none,score@1.0", "--out", out.toString(), "--quiet");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("### piqa (n=2)") && r.out().contains("### wikitext (n=2)"), r.out());
        JsonNode all = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        for (String p : List.of("none", "score@1.0")) {
            JsonNode doc = new ObjectMapper().readTree(out.resolve("results_" + p + ".json").toFile());
            assertEquals(List.of(), ResultsJson.validate(doc), p);
            assertEquals(doc, all.get("results_by_policy").get(p));
            double acc = doc.at("/results/piqa/acc,none").asDouble();
            assertTrue(acc >= 0 && acc <= 1);
            assertTrue(doc.at("/results/wikitext/word_perplexity,none").asDouble() > 1);
        }
        JsonNode none = all.at("/results_by_policy/none/routing/piqa");
        JsonNode score = all.at("/results_by_policy/score@1.0/routing/piqa");
        assertEquals(0.0, none.get("dropped_fraction").asDouble(), 0);
        assertTrue(score.get("dropped_fraction").asDouble() > 0.05, score.toString());
        assertTrue(score.get("ep_speedup_bound").asDouble() > 1, "capacity 1.0 evens out the busiest device");
        // the real report in a real browser: per task quality vs gamma, speedup bars, quality vs speedup
        capmoe.testing.HeadlessChromium.check(out.resolve("report.html"), 6);
        assertTrue(Files.readString(out.resolve("results.md")).contains("| score@1.0 |"));
    }

    @Test
    void noSharedContextScoresEveryChoiceAsAFullSequenceWithTheSameResultUnderNone() throws IOException {
        JsonNode[] docs = new JsonNode[2];
        for (int i = 0; i < 2; i++) {
            Path out = tmp.resolve("out" + i);
            List<String> args = new java.util.ArrayList<>(List.of("eval", "--model", Shared.require("models/olmoe-tiny").toString(),
                    "--tasks", "piqa", "--data-dir", Shared.require("data").toString(), "--limit", "6", "--policies", "none",
                    "--out", out.toString(), "--quiet"));
            if (i == 1) args.add("--no-shared-context");
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.exitCode(), r.err());
            docs[i] = new ObjectMapper().readTree(out.resolve("results_none.json").toFile());
        }
        assertTrue(docs[0].at("/config/shared_context").asBoolean());
        assertFalse(docs[1].at("/config/shared_context").asBoolean());
        assertEquals(docs[0].at("/results/piqa"), docs[1].at("/results/piqa"));
    }

    @Test
    void devicesBeyondTheExpertsAreRejectedNotClamped() {
        CliRun r = CliRun.of("eval", "--model", Shared.require("models/olmoe-tiny").toString(), "--tasks", "piqa",
                "--data-dir", Shared.require("data").toString(), "--devices", "1000", "--limit", "1", "--out", tmp.resolve("o").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--devices must be in 1..32 for 32 experts (got 1000)"), r.err());
    }

    @Test
    void malformedEmptyOrBinaryTaskFilesSayWhatIsWrongInOneLine() throws IOException {
        Path data = tmp.resolve("data2");
        Files.createDirectories(data.resolve("piqa"));
        Files.writeString(data.resolve("piqa/validation.jsonl"), "{\"goal\": \"g\", \"sol1\": \"a\", \"label\": 0}\n");
        piqaFails(data, "piqa/validation.jsonl:1: missing field 'sol2'");
        Files.writeString(data.resolve("piqa/validation.jsonl"), "\n\n");
        piqaFails(data, "piqa/validation.jsonl is empty: expected one JSON object per line");
        Files.write(data.resolve("piqa/validation.jsonl"), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1, 2, (byte) 0xc3});
        piqaFails(data, "piqa/validation.jsonl is not UTF-8 text (a binary file?)");
    }

    /** eval --tasks piqa on the data folder {@code data} ends in exit code 2 and one line containing {@code message}. */
    private void piqaFails(Path data, String message) {
        CliRun r = CliRun.of("eval", "--model", Shared.require("models/olmoe-tiny").toString(), "--tasks", "piqa",
                "--data-dir", data.toString(), "--out", tmp.resolve("o").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains(message), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void missingTaskFileNamesItAndItsSchema() {
        CliRun r = CliRun.of("eval", "--model", Shared.require("models/olmoe-tiny").toString(), "--tasks", "hellaswag",
                "--data-dir", tmp.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("hellaswag/validation.jsonl") && r.err().contains("\"endings\""), r.err());
    }
}
