package capmoe.cli;

import capmoe.eval.EvalResults;
import capmoe.eval.Evaluator;
import capmoe.eval.ModelLoader;
import capmoe.eval.Task;
import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.RoutingSample;
import capmoe.routing.RoutingStats;
import capmoe.tokenizer.HfTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code ./capmoe demo}: the bundled trained model (olmoe-small) on both bundled texts under each
 * policy, perplexity equal to the Evaluator's on the same windows; {@code --synthetic}: one row per policy, numbers equal to
 * routing the same sample directly.
 */
class DemoCommandTest {

    record Result(int code, String out, String err) { }

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = new CommandLine(new Main()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                .setExecutionExceptionHandler(new CleanErrors()).execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    static String row(String out, String label) {
        for (String line : out.split("\n")) if (line.startsWith(label + " ")) return line;
        throw new AssertionError("no row for " + label + " in:\n" + out);
    }

    @Test
    void printsEveryPolicyWithNumbersFromTheRouter() {
        Result r = run("synthetic", "--tokens", "1024");
        assertEquals(0, r.code(), r.err());
        for (String label : new String[] {"none", "score@1.0", "order@1.0", "reverse@1.0", "random@1.0", "expanded@1.0",
                "expanded_origin@1.0", "device@1.0", "expert_drop@0.1"}) {
            row(r.out(), label);
        }
        assertTrue(row(r.out(), "none").matches("none\\s+-\\s+0\\.0%\\s+0\\.0%.*1\\.00x"), row(r.out(), "none"));

        // score@1.0 routed here directly on the same sample: C = ceil(1*8*1024/64) = 128
        RoutingStats s = new Router(RouterConfig.softmax(64, 8, false), Policy.parse("score@1.0"), Placement.contiguous(64, 8))
                .route(RoutingSample.skewed(1024, 64, 0).logits(), 1024).stats();
        assertEquals(128, s.capacity());
        String score = row(r.out(), "score@1.0");
        assertTrue(score.contains(" 128 "), score);
        assertTrue(score.contains(String.format(Locale.ROOT, "%.1f%%", 100 * s.droppedFraction())), score);
        assertTrue(score.contains(String.format(Locale.ROOT, "%.2f ->", s.expertImbalanceBefore())), score);
        assertTrue(score.endsWith(String.format(Locale.ROOT, "%.2fx", s.speedupBound())), score);
        assertTrue(s.speedupBound() > 1.1, "the skewed sample overloads devices: bound " + s.speedupBound());
    }

    @Test
    void isDeterministicForASeed() {
        assertEquals(run("synthetic", "--tokens", "512").out(), run("synthetic", "--tokens", "512").out());
        assertNotEquals(run("synthetic", "--tokens", "512").out(), run("synthetic", "--tokens", "512", "--seed", "1").out());
    }

    @Test
    void runsAnExplicitPolicyList() {
        Result r = run("synthetic", "--tokens", "256", "--experts", "16", "--top-k", "2", "--devices", "4",
                "--policies", "none,score@1.5,device@2.0");
        assertEquals(0, r.code(), r.err());
        row(r.out(), "score@1.5");
        row(r.out(), "device@2.0");
        assertFalse(r.out().contains("order@"), r.out());
    }

    @Test
    void badArgumentsGiveOneLineAndExitCode2() {
        Result r = run("synthetic", "--policies", "score@0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("gamma must be > 0"), r.err());
        r = run("synthetic", "--experts", "8", "--top-k", "2", "--devices", "9");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("devices must be in 1..8"), r.err());
        r = run("synthetic", "--top-k", "65");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("top_k must be in 1..E=64"), r.err());
        r = run("synthetic", "--tokens", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--tokens must be >= 1"), r.err());
    }

    @Test
    void runsTheBundledModelUnderEachPolicyWithTheEvaluatorsPerplexity(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("demo");
        Result r = run("demo", "--windows", "2", "--policies", "none,score@1.0", "--out", out.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        // one table per bundled text: held-out books first, then WikiText-2
        int second = r.out().indexOf("olmoe-small on test.txt: 2 windows x 256 tokens");
        assertTrue(r.out().startsWith("olmoe-small on heldout.txt: 2 windows x 256 tokens, batch 8, 8 devices") && second > 0, r.out());
        String none = row(r.out(), "none");
        String score = row(r.out(), "score@1.0");
        String wikitextNone = row(r.out().substring(second), "none");
        // none against itself: every repeat gives exactly 1, so the range is 1.00-1.00
        // policy, dropped, added, max/mean, device max/mean, speedup, range, bound, decode speedup and bound, perplexity, vs none
        assertTrue(none.matches("none\\s+0\\.0%\\s+0\\.0%\\s+\\d+\\.\\d\\d\\s+\\d+\\.\\d\\d\\s+1\\.00x\\s+1\\.00-1\\.00\\s+1\\.00x\\s+1\\.00x\\s+1\\.00x"
                + "\\s+\\d+\\.\\d{3}\\s+\\+0\\.00%"), none);
        assertTrue(score.matches("score@1\\.0\\s+\\d+\\.\\d%\\s+0\\.0%\\s+\\d+\\.\\d\\d\\s+\\d+\\.\\d\\d\\s+\\d+\\.\\d\\dx!?\\s+\\d+\\.\\d\\d-\\d+\\.\\d\\d"
                + "\\s+\\d+\\.\\d\\dx\\s+\\d+\\.\\d\\dx!?\\s+\\d+\\.\\d\\dx\\s+\\d+\\.\\d{3}\\s+[+-]\\d+\\.\\d\\d%"), score);
        assertTrue(r.out().contains("decode, dec.bound = the same for 8 greedy decode steps"), r.out());
        assertTrue(Files.isRegularFile(out.resolve("report.html")), "no report.html in " + out);
        // one computation: the console's speedup and range are results.json's and report.html's
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("results.json").toFile())
                .path("results_by_policy").path("score@1.0").path("routing").path("text:data/gutenberg/heldout.txt");
        String shown = String.format(Locale.ROOT, "%.2fx (%.2f-%.2f)", json.get("ep_speedup").asDouble(),
                json.get("ep_speedup_min").asDouble(), json.get("ep_speedup_max").asDouble());
        assertTrue(score.contains(shown.substring(0, shown.indexOf(' '))) && score.contains(shown.substring(shown.indexOf('(') + 1, shown.length() - 1)),
                shown + " vs " + score);
        assertTrue(Files.readString(out.resolve("report.html")).contains(shown), shown);
        assertTrue(Files.readString(out.resolve("results.md")).contains(shown), shown);
        assertTrue(r.out().contains(out.resolve("report.html").toAbsolutePath().normalize().toString()), r.out());

        // The same 2 windows of each text through the Evaluator directly, without the EP runtime, in
        // float32 as the references: the runtime must not change a single logit, so the printed
        // perplexity (3 decimals) is the same.
        Path repo = DemoCommand.repoRoot();
        Path model = repo.resolve("models/olmoe-small");
        ModelConfig config = ModelConfig.read(model);
        assertEquals(64, config.numExperts());
        Placement placement = Placement.contiguous(config.numExperts(), 8);
        Task books = Task.TokenWindows.of("books", repo.resolve("data/gutenberg/heldout.txt"), 256, 8, 2);
        Task wikitext = Task.TokenWindows.of("wikitext", repo.resolve("data/wikitext-2/test.txt"), 256, 8, 2);
        try (HfTokenizer tokenizer = HfTokenizer.load(model); CausalLM lm = ModelLoader.load(model, "float32")) {
            EvalResults want = new Evaluator(lm, tokenizer, new Evaluator.Config(config.maxPositionEmbeddings(), 8,
                    capmoe.eval.Evaluation.defaultPrefix(config), 8),
                    (policy, listener) -> RunOptions.of(policy).withPlacement(placement).withListener(listener), null, null)
                    .run(List.of(books, wikitext), List.of(Policy.parse("none")));
            double ppl = want.get("none", "books").metrics().get("perplexity");
            assertTrue(none.contains(String.format(Locale.ROOT, " %.3f ", ppl)), "Evaluator says " + ppl + ": " + none);
            ppl = want.get("none", "wikitext").metrics().get("perplexity");
            assertTrue(wikitextNone.contains(String.format(Locale.ROOT, " %.3f ", ppl)), "Evaluator says " + ppl + ": " + wikitextNone);
        }
    }

    @Test
    void theBaselineIsAddedWhenMissing() {
        Result r = run("synthetic", "--tokens", "256", "--policies", "score@1.5");
        assertEquals(0, r.code(), r.err());
        assertTrue(row(r.out(), "none").contains("1.00x"), r.out());
        row(r.out(), "score@1.5");
    }

    @Test
    void demoSyntheticPointsToItsOwnCommand() {
        Result r = run("demo", "--synthetic");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("./capmoe synthetic"), r.err());
    }

    @Test
    void oneTokenWindowsAndTooManyDevicesAreUserErrors() {
        Result r = run("demo", "--seq", "1");
        assertEquals(2, r.code());
        assertEquals("capmoe demo: error: --seq must be >= 2: a window scores tokens 2..seq from the ones before (got 1)", r.err().strip());
        // olmoe-small has 64 experts: rejected as in ep-bench, not clamped
        r = run("demo", "--devices", "1000", "--windows", "1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--devices must be in 1..64 for 64 experts (got 1000)"), r.err());
    }

    @Test
    void badRepositoryPathsSayWhatIsMissing() {
        Result r = run("demo", "--text", "/nonexistent/test.txt", "--windows", "1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("/nonexistent/test.txt"), r.err());
        r = run("demo", "--windows", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--windows must be >= 1"), r.err());
    }
}
