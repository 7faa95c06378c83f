package capmoe.eval;

import capmoe.routing.Policy;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading the models' PyTorch reference files and comparing a run with them. */
class ReferencePoliciesTest {

    @Test
    void readsTheShippedReferencesWithTheirExpandedConvention() {
        List<ReferencePolicies> small = ReferencePolicies.in(Shared.require("models/olmoe-small"), 64);
        assertEquals(List.of("test.txt", "heldout.txt").stream().sorted().toList(),
                small.stream().map(ReferencePolicies::text).sorted().toList());
        ReferencePolicies heldout = small.stream().filter(r -> r.text().equals("heldout.txt")).findFirst().orElseThrow();
        assertEquals(36.37004194886645, heldout.policies().get("none").ppl(), 0);
        assertEquals(2949120, heldout.policies().get("none").keptPairs());
        // olmoe-small's expanded@1.5 added experts 0-15 (one device of four): not capmoe's default 0-7
        assertEquals(heldout.policies().get("expanded@1.5"), heldout.find("expanded@1.5:local=0-15", 64));
        assertNull(heldout.find("expanded@1.5", 64));
        assertNull(heldout.find("expanded_origin@1.5", 64));
        assertEquals(heldout.policies().get("score@1.0"), heldout.find("score@1.0", 64));

        // olmoe-tiny's (32 experts) added experts 0-7, which is capmoe's default list
        ReferencePolicies tiny = ReferencePolicies.in(Shared.require("models/olmoe-tiny"), 32).getFirst();
        assertEquals(tiny.policies().get("expanded@1.5"), tiny.find("expanded@1.5", 32));
        assertEquals(tiny.policies().get("expanded@1.5"), tiny.find("expanded@1.5:local=0-7", 32));
    }

    @Test
    void comparesMatchingWindowsAndSaysWhenItCannot(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("reference_policies_book.json"), """
                {"text": "book.txt", "seq": 16, "batch": 2, "windows": 3, "policies": {
                  "none": {"ppl": 10.0, "kept_pairs": 96, "assigned_pairs": 96},
                  "score@1.0": {"ppl": 12.0, "kept_pairs": 60, "assigned_pairs": 96}}}""");
        Path book = dir.resolve("book.txt");
        Task.TokenWindows task = new Task.TokenWindows("text:" + book, book, "", 16, 2, 3);
        EvalResults results = results(task.name(), 3, Map.of("none", 10.0000001, "score@1.0", 12.01));
        String table = ReferencePolicies.compare(dir, 8, List.of(task), results);
        assertTrue(table.contains("| none | 10.0000 | 10.0000 | 1.0e-08 | 96 / 96 |"), table);
        assertTrue(table.contains("| score@1.0 | 12.0100 | 12.0000 | 8.3e-04 | 60 / 60 |"), table);
        assertTrue(table.contains("2 policies compared, largest rel. diff 8.3e-04: NOT within 1.0E-4 for score@1.0"), table);

        String other = ReferencePolicies.compare(dir, 8, List.of(task), results(task.name(), 2, Map.of("none", 10.0)));
        assertTrue(other.contains("is for --seq 16 --batch 2 --limit 3; text:" + book + " not compared"), other);

        Task.TokenWindows elsewhere = new Task.TokenWindows("wikitext-windows", dir.resolve("test.txt"), "", 16, 2, 3);
        assertEquals("", ReferencePolicies.compare(dir, 8, List.of(elsewhere), results("wikitext-windows", 3, Map.of("none", 1.0))));
    }

    @Test
    void aBrokenReferenceNamesTheFileAndField(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("reference_policies_x.json");
        Files.writeString(f, "{\"text\": \"x.txt\", \"seq\": 16, \"batch\": 2, \"windows\": 3, \"policies\": {\"none\": {\"ppl\": 1}}}");
        var e = assertThrows(IllegalArgumentException.class, () -> ReferencePolicies.read(f, 8));
        assertEquals(f + ": missing field 'policies.none.kept_pairs'", e.getMessage());
        Files.writeString(f, "{\"text\": ");
        e = assertThrows(IllegalArgumentException.class, () -> ReferencePolicies.read(f, 8));
        assertTrue(e.getMessage().startsWith(f + " is not valid JSON"), e.getMessage());
    }

    /** Results of one windowed task: the given perplexities, kept pairs as the reference above. */
    static EvalResults results(String task, int samples, Map<String, Double> ppl) {
        Map<String, Map<String, TaskResult>> byPolicy = new LinkedHashMap<>();
        for (String p : List.of("none", "score@1.0")) {
            if (!ppl.containsKey(p)) continue;
            long kept = p.equals("none") ? 96 : 60;
            var load = new LoadRecorder.LoadSummary(6, kept, 96, 1 - kept / 96.0, 1.0, 10, 4);
            byPolicy.put(Policy.parse(p).label(), Map.of(task, new TaskResult(task, p, samples,
                    Map.of("perplexity", ppl.get(p)), Map.of("perplexity", Double.NaN), load, null)));
        }
        return new EvalResults(byPolicy, new Evaluator.Config(64, 2, 0, 4));
    }
}
