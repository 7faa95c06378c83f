package capmoe.eval;

import capmoe.model.CausalLM;
import capmoe.model.LogProbs;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.testing.Shared;
import capmoe.tokenizer.HfTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The harness on a real engine model (the random-weight OLMoE fixture) with task files written
 * here: its scores must equal a computation done independently from the model's logits, one
 * sequence at a time, with token ids taken as UTF-8 bytes (see {@link ByteTokenizer}).
 *
 * <p>Tolerance 1e-4 on summed log-likelihoods: the harness runs sequences padded in batches, the
 * independent computation one by one, and fp32 sums differ in the last bits.
 */
class FixtureModelsTest {

    static CausalLM model;
    static HfTokenizer tokenizer;
    static final int PREFIX = 0; // the fixture's eos id (50279) is outside its 384-token vocabulary

    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() {
        model = Models.load(Shared.require("fixtures/hf/olmoe"));
        tokenizer = ByteTokenizer.load(tmp.resolve("tok"));
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
        if (tokenizer != null) tokenizer.close();
    }

    static int[] bytes(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xff;
        return ids;
    }

    /** log P(cont | ctx) from one unbatched forward pass. */
    static double independentLoglik(int[] ctx, int[] cont) {
        return LogProbs.sum(model, new int[][] {ctx}, new int[][] {cont}, RunOptions.defaults())[0];
    }

    static Evaluator evaluator(int maxLength, int batch) {
        return new Evaluator(model, tokenizer, new Evaluator.Config(maxLength, batch, PREFIX, 4),
                (policy, listener) -> RunOptions.of(policy).withListener(listener), null);
    }

    static final String[][] PIQA = {
            {"Keep bread fresh", "store it in a sealed bag", "leave it in the sun"},
            {"Cool a drink quickly", "put it in ice water with salt", "put it on the stove"},
            {"Make tea", "steep leaves in hot water", "freeze the leaves"},
            {"Dry wet shoes", "stuff them with newspaper", "fill them with water"},
            {"Sweeten coffee", "add a spoon of sugar", "add a café crème brûlée"},
    };

    Path piqa(Path dir) throws IOException {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < PIQA.length; i++) {
            lines.add("{\"goal\": \"" + PIQA[i][0] + "\", \"sol1\": \"" + PIQA[i][1] + "\", \"sol2\": \"" + PIQA[i][2]
                    + "\", \"label\": " + (i % 2) + "}");
        }
        Files.createDirectories(dir.resolve("piqa"));
        Files.write(dir.resolve("piqa/validation.jsonl"), lines);
        return dir;
    }

    @Test
    void multipleChoiceScoresEqualAnIndependentComputation(@TempDir Path data) throws IOException {
        Task.MultipleChoice task = (Task.MultipleChoice) Tasks.load(List.of("piqa"), piqa(data),
                new Tasks.Options(0, 0, 1, 256, 3)).getFirst();
        Evaluator ev = evaluator(512, 3);
        double accSum = 0, accNormSum = 0;
        List<LoglikelihoodRequest> requests = new ArrayList<>();
        List<Double> expected = new ArrayList<>();
        for (int d = 0; d < PIQA.length; d++) {
            int[] ctx = bytes("Question: " + PIQA[d][0] + "\nAnswer:");
            double[] ll = new double[2];
            for (int c = 0; c < 2; c++) {
                int[] cont = bytes(" " + PIQA[d][c + 1]);
                LoglikelihoodRequest q = ev.encodePair(task.docs().get(d).contexts().get(c), task.docs().get(d).continuations().get(c));
                assertArrayEquals(ctx, q.context());
                assertArrayEquals(cont, q.continuation());
                requests.add(q);
                ll[c] = independentLoglik(ctx, cont);
                expected.add(ll[c]);
            }
            int gold = d % 2;
            accSum += (ll[0] >= ll[1] ? 0 : 1) == gold ? 1 : 0;
            double n0 = ll[0] / PIQA[d][1].getBytes(StandardCharsets.UTF_8).length;
            double n1 = ll[1] / PIQA[d][2].getBytes(StandardCharsets.UTF_8).length;
            accNormSum += (n0 >= n1 ? 0 : 1) == gold ? 1 : 0;
        }
        for (boolean shared : new boolean[] {true, false}) {
            List<Loglikelihood> got = Loglikelihoods.score(model, RunOptions.defaults(), requests, 512, 3, shared, null);
            for (int i = 0; i < got.size(); i++) {
                assertEquals(expected.get(i), got.get(i).logprob(), 1e-4, "request " + i + ", shared context " + shared);
            }
        }

        TaskResult r = ev.evaluate(task, new Policy.None());
        assertEquals(accSum / PIQA.length, r.metrics().get("acc"), 1e-12);
        assertEquals(accNormSum / PIQA.length, r.metrics().get("acc_norm"), 1e-12);
        assertEquals(0.0, r.load().droppedFraction(), 0);
    }

    @Test
    void wikitextPerplexitiesEqualAnIndependentComputation(@TempDir Path data) throws IOException {
        String[] pages = {" = Alpha = \n \n The alpha page , with 3 @-@ 4 words . \n",
                " = Beta = \n \n Beta 's text is \" quoted \" and ( bracketed ) . \n"};
        Files.createDirectories(data.resolve("wikitext"));
        Files.write(data.resolve("wikitext/test.jsonl"), List.of(
                "{\"page\": \"" + pages[0].replace("\n", "\\n").replace("\"", "\\\"") + "\"}",
                "{\"page\": \"" + pages[1].replace("\n", "\\n").replace("\"", "\\\"") + "\"}"));
        Task task = Tasks.load(List.of("wikitext"), data, new Tasks.Options(0, 0, 1, 256, 2)).getFirst();
        // max length 512 holds each page in one window: log P(page) = log P(tokens | prefix)
        TaskResult r = evaluator(512, 2).evaluate(task, new Policy.None());
        double ll = 0;
        long words = 0, bytes = 0;
        for (String page : pages) {
            ll += independentLoglik(new int[] {PREFIX}, bytes(Wikitext.detokenize(page)));
            words += page.strip().split("\\s+").length + 2; // leading and trailing whitespace add an empty piece each
            bytes += page.getBytes(StandardCharsets.UTF_8).length;
        }
        assertEquals(Math.exp(-ll / words), r.metrics().get("word_perplexity"), 1e-4 * r.metrics().get("word_perplexity"));
        assertEquals(Math.exp(-ll / bytes), r.metrics().get("byte_perplexity"), 1e-4 * r.metrics().get("byte_perplexity"));
        assertEquals(-ll / bytes / Math.log(2), r.metrics().get("bits_per_byte"), 1e-4);

        // Windows of 16 tokens, run 4 per batch, equal the windows scored one by one.
        TaskResult windowed = evaluator(16, 4).evaluate(task, new Policy.None());
        double windowedLl = 0;
        for (String page : pages) {
            for (LoglikelihoodRequest w : RollingWindows.windows(bytes(Wikitext.detokenize(page)), PREFIX, 16)) {
                windowedLl += independentLoglik(w.context(), w.continuation());
            }
        }
        assertEquals(-windowedLl / bytes / Math.log(2), windowed.metrics().get("bits_per_byte"), 1e-4);
        assertTrue(Math.abs(windowedLl - ll) > 1e-3, "shorter windows see less context, so the score differs");
    }

    /** Sum of log P(window[i+1] | window[..i]) over the batch's windows, from one forward pass of all of them. */
    static double windowsLoglik(int[][] windows, Policy policy) {
        float[][] logits = model.forward(windows, RunOptions.of(policy));
        double ll = 0;
        for (int w = 0; w < windows.length; w++) {
            int seq = windows[w].length, vocab = logits[w].length / seq;
            for (int i = 0; i + 1 < seq; i++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int v = 0; v < vocab; v++) max = Math.max(max, logits[w][i * vocab + v]);
                for (int v = 0; v < vocab; v++) sum += Math.exp(logits[w][i * vocab + v] - max);
                ll += logits[w][i * vocab + windows[w][i + 1]] - max - Math.log(sum);
            }
        }
        return ll;
    }

    @Test
    void textPerplexityScoresNonOverlappingWindowsBatchByBatch(@TempDir Path data) throws IOException {
        // 7 windows of 16 bytes and 11 bytes left over, which are not scored
        String text = "Plain text, scored in windows of sixteen tokens; each batch of windows routes together, so "
                + "capacity is per batch. Left over";
        assertEquals(7 * 16 + 11, bytes(text).length);
        Path file = data.resolve("book.txt");
        Files.writeString(file, text);
        int[] tokens = bytes(text);
        for (String spec : List.of("none", "score@1.0")) {
            Policy policy = Policy.parse(spec);
            for (int limit : new int[] {0, 5}) {
                Task task = Tasks.load(List.of("text:" + file), data, new Tasks.Options(limit, 0, 1, 16, 3)).getFirst();
                assertEquals("text:" + file, task.name());
                TaskResult r = evaluator(512, 3).evaluate(task, policy);
                int windows = limit == 0 ? 7 : limit;
                double ll = 0;
                for (int start = 0; start < windows; start += 3) {
                    int[][] batch = new int[Math.min(3, windows - start)][];
                    for (int i = 0; i < batch.length; i++) {
                        batch[i] = java.util.Arrays.copyOfRange(tokens, (start + i) * 16, (start + i + 1) * 16);
                    }
                    ll += windowsLoglik(batch, policy);
                }
                assertEquals(windows, r.samples());
                assertEquals(windows * 15.0, r.metrics().get("tokens_scored"));
                double want = Math.exp(-ll / (windows * 15));
                assertEquals(want, r.metrics().get("perplexity"), 1e-5 * want, spec + ", limit " + limit);
            }
        }
        // capacity is computed per forward pass: other batches route differently
        Task one = Tasks.load(List.of("text:" + file), data, new Tasks.Options(3, 0, 1, 16, 1)).getFirst();
        Task three = Tasks.load(List.of("text:" + file), data, new Tasks.Options(3, 0, 1, 16, 3)).getFirst();
        Policy score = Policy.parse("score@1.0");
        assertNotEquals(evaluator(512, 3).evaluate(one, score).metrics().get("perplexity"),
                evaluator(512, 3).evaluate(three, score).metrics().get("perplexity"));
    }

    @Test
    void lambadaAccuracyIsTheGreedyCheck(@TempDir Path data) throws IOException {
        Files.createDirectories(data.resolve("lambada_openai"));
        Files.write(data.resolve("lambada_openai/test.jsonl"), List.of("{\"text\": \"the cat sat on the mat\"}",
                "{\"text\": \"one two three four\"}"));
        Task task = Tasks.load(List.of("lambada_openai"), data, new Tasks.Options(0, 0, 1, 256, 2)).getFirst();
        TaskResult r = evaluator(512, 2).evaluate(task, new Policy.None());
        double sumLl = 0;
        int greedy = 0;
        for (String[] p : new String[][] {{"the cat sat on the", " mat"}, {"one two three", " four"}}) {
            int[] ctx = bytes(p[0]);
            int[] cont = bytes(p[1]);
            sumLl += independentLoglik(ctx, cont);
            int[] seq = new int[ctx.length + cont.length - 1];
            System.arraycopy(ctx, 0, seq, 0, ctx.length);
            System.arraycopy(cont, 0, seq, ctx.length, cont.length - 1);
            float[] logits = model.forward(new int[][] {seq}, RunOptions.defaults())[0];
            int vocab = logits.length / seq.length;
            boolean all = true;
            for (int j = 0; j < cont.length; j++) {
                int row = (ctx.length - 1 + j) * vocab;
                int best = 0;
                for (int v = 1; v < vocab; v++) if (logits[row + v] > logits[row + best]) best = v;
                all &= best == cont[j];
            }
            greedy += all ? 1 : 0;
        }
        assertEquals(Math.exp(-sumLl / 2), r.metrics().get("perplexity"), 1e-4 * r.metrics().get("perplexity"));
        assertEquals(greedy / 2.0, r.metrics().get("acc"), 1e-12);
    }

    @Test
    void everyPolicyRunsAndReportsItsLoad(@TempDir Path data) throws IOException {
        piqa(data);
        Files.createDirectories(data.resolve("wikitext"));
        Files.write(data.resolve("wikitext/test.jsonl"), List.of("{\"page\": \" = T = \\n Some text to score here . \\n\"}"));
        List<Task> tasks = Tasks.load(List.of("piqa", "wikitext"), data, new Tasks.Options(0, 0, 1, 256, 4));
        List<Policy> policies = new ArrayList<>();
        for (String p : List.of("none", "score@1.0", "order@1.0", "reverse@1.0", "random@1.0", "expanded@1.5",
                "expert_drop@0.1")) {
            policies.add(Policy.parse(p));
        }
        EvalResults results = evaluator(512, 4).run(tasks, policies);
        assertEquals(7, results.policies().size());
        for (String p : results.policies()) {
            for (String t : List.of("piqa", "wikitext")) {
                TaskResult r = results.get(p, t);
                for (double v : r.metrics().values()) assertTrue(Double.isFinite(v), p + " " + t + " " + r.metrics());
                assertTrue(r.load().layerCalls() > 0, p + " saw no routing");
                assertTrue(Double.isFinite(results.speedupBound(p, t)));
            }
        }
        assertEquals(0.0, results.get("none", "piqa").load().droppedFraction(), 0);
        assertEquals(1.0, results.speedupBound("none", "piqa"), 0);
        assertTrue(results.get("score@1.0", "piqa").load().droppedFraction() > 0, "gamma 1 drops some tokens");
        assertTrue(results.get("expert_drop@0.1", "piqa").load().droppedFraction() > 0, "the least-loaded expert is skipped");
        // one convention: dropped top-k pairs and added local pairs, each a fraction of the top-k pairs, never negative
        var expanded = results.get("expanded@1.5", "piqa").load();
        assertTrue(expanded.droppedFraction() >= 0 && expanded.addedFraction() > 0, "local experts are added: " + expanded);
        assertEquals(0.0, results.get("score@1.0", "piqa").load().addedFraction(), 0, "token drop adds nothing");
        assertEquals(expanded.keptPairs(), Math.round(expanded.assignedPairs() * (1 - expanded.droppedFraction() + expanded.addedFraction())),
                "kept = top-k - dropped + added");
        for (String p : results.policies()) {
            assertEquals(List.of(), ResultsJson.validate(ResultsJson.forPolicy(results, p, java.util.Map.of())));
        }
    }

    @Test
    void theExpertParallelRuntimeMeasuresEpTimeWithoutChangingScores(@TempDir Path data) throws IOException {
        Task task = Tasks.load(List.of("piqa"), piqa(data), new Tasks.Options(0, 0, 1, 256, 4)).getFirst();
        var ep = new EpRuntime.InJvm(capmoe.runtime.ep.Devices.contiguous(16, 4), capmoe.runtime.ep.EpMode.TIMED_SERIAL,
                new capmoe.runtime.ep.CommModel(0, 2), 1, 3, 1);
        Evaluator local = evaluator(512, 4);
        Evaluator parallel = new Evaluator(model, tokenizer, new Evaluator.Config(512, 4, PREFIX, 4),
                (policy, listener) -> RunOptions.of(policy).withPlacement(capmoe.routing.Placement.contiguous(16, 4))
                        .withListener(listener), null, ep);
        List<Policy> policies = List.of(new Policy.None(), Policy.parse("score@1.0"));
        EvalResults a = local.run(List.of(task), policies);
        EvalResults b = parallel.run(List.of(task), policies);
        for (String p : List.of("none", "score@1.0")) {
            // the EP runtime is bit-identical to the local executor
            assertEquals(a.get(p, "piqa").metrics(), b.get(p, "piqa").metrics(), p);
            assertTrue(Double.isNaN(a.get(p, "piqa").epSeconds()));
            assertTrue(b.get(p, "piqa").epSeconds() > 0, p);
        }
        assertEquals(1.0, b.epSpeedup("none", "piqa"), 0);
        assertEquals(new capmoe.runtime.ep.EpReplay.Speedup(1, 1, 1), b.speedup("none", "piqa"), "none against itself, repeat by repeat");
        assertTrue(Double.isFinite(b.epSpeedup("score@1.0", "piqa")));
        assertTrue(MarkdownReport.render(b).contains("EP speedup (measured)"));
        assertTrue(ResultsJson.forPolicy(b, "score@1.0", java.util.Map.of()).at("/routing/piqa/ep_speedup").isNumber());
    }
}
