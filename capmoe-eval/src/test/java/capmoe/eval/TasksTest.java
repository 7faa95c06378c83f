package capmoe.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** lm-eval's prompt formats for each task, and clear errors for bad task files. */
class TasksTest {

    @TempDir
    Path data;

    static final Tasks.Options ZERO_SHOT = new Tasks.Options(0, 0, 1234, 256, 8);

    void write(String file, String... lines) throws IOException {
        Path p = data.resolve(file);
        Files.createDirectories(p.getParent());
        Files.writeString(p, String.join("\n", lines) + "\n");
    }

    Task.MultipleChoice mc(String task, Tasks.Options o) {
        return (Task.MultipleChoice) Tasks.load(List.of(task), data, o).getFirst();
    }

    @Test
    void piqaQuestionAnswerFormat() throws IOException {
        write("piqa/validation.jsonl", "{\"goal\": \"Open a jar\", \"sol1\": \"twist the lid\", \"sol2\": \"eat it\", \"label\": 0}");
        Task.Doc d = mc("piqa", ZERO_SHOT).docs().getFirst();
        assertEquals(List.of("Question: Open a jar\nAnswer:", "Question: Open a jar\nAnswer:"), d.contexts());
        assertEquals(List.of(" twist the lid", " eat it"), d.continuations());
        assertEquals(List.of("twist the lid", "eat it"), d.choiceTexts());
        assertEquals(0, d.gold());
    }

    @Test
    void hellaswagPreprocessing() throws IOException {
        write("hellaswag/validation.jsonl", "{\"activity_label\": \"Baking\", \"ctx_a\": \"A man mixes flour [title] in a bowl.\", "
                + "\"ctx_b\": \"tHEN he\", \"endings\": [\" adds eggs [step] slowly. \", \"sleeps\", \"runs\", \"sings\"], \"label\": \"2\"}");
        Task.Doc d = mc("hellaswag", ZERO_SHOT).docs().getFirst();
        // ctx_b.capitalize() lower-cases the rest; " [title]" -> ". "; other [..] removed; double spaces collapsed
        assertEquals("Baking: A man mixes flour. in a bowl. Then he", d.contexts().getFirst());
        assertEquals(List.of("adds eggs slowly.", "sleeps", "runs", "sings"), d.choiceTexts());
        assertEquals(2, d.gold());
    }

    @Test
    void arcAndOpenbookqaMapTheAnswerKeyToItsLabel() throws IOException {
        write("arc_easy/test.jsonl", "{\"question\": \"Which is a gas?\", \"choices\": {\"text\": [\"ice\", \"steam\"], "
                + "\"label\": [\"A\", \"B\"]}, \"answerKey\": \"B\"}");
        write("arc_challenge/test.jsonl", "{\"question\": \"2+2?\", \"choices\": {\"text\": [\"3\", \"4\", \"5\"], "
                + "\"label\": [\"1\", \"2\", \"3\"]}, \"answerKey\": \"2\"}");
        write("openbookqa/test.jsonl", "{\"question_stem\": \"The sun is\", \"choices\": {\"text\": [\"cold\", \"a star\"], "
                + "\"label\": [\"A\", \"B\"]}, \"answerKey\": \" B\"}");
        Task.Doc arc = mc("arc_easy", ZERO_SHOT).docs().getFirst();
        assertEquals("Question: Which is a gas?\nAnswer:", arc.contexts().getFirst());
        assertEquals(1, arc.gold());
        assertEquals(1, mc("arc_challenge", ZERO_SHOT).docs().getFirst().gold());
        Task.Doc obqa = mc("openbookqa", ZERO_SHOT).docs().getFirst();
        assertEquals("The sun is", obqa.contexts().getFirst());
        assertEquals(List.of(" cold", " a star"), obqa.continuations());
        assertEquals(1, obqa.gold());
    }

    @Test
    void boolqAsksYesOrNo() throws IOException {
        write("boolq/validation.jsonl", "{\"passage\": \"Cats purr.\", \"question\": \"do cats purr\", \"label\": 1}");
        Task.MultipleChoice t = mc("boolq", ZERO_SHOT);
        assertEquals("Cats purr.\nQuestion: do cats purr?\nAnswer:", t.docs().getFirst().contexts().getFirst());
        assertEquals(List.of(" no", " yes"), t.docs().getFirst().continuations());
        assertFalse(t.accNorm(), "lm-eval reports only acc for boolq");
    }

    @Test
    void winograndeScoresTheSharedTargetAfterEachOption() throws IOException {
        write("winogrande/validation.jsonl", "{\"sentence\": \"Sarah lent Maria money because _ was rich.\", "
                + "\"option1\": \"Sarah\", \"option2\": \"Maria\", \"answer\": \"1\"}");
        Task.MultipleChoice t = mc("winogrande", ZERO_SHOT);
        Task.Doc d = t.docs().getFirst();
        assertEquals(List.of("Sarah lent Maria money because Sarah", "Sarah lent Maria money because Maria"), d.contexts());
        assertEquals(List.of(" was rich.", " was rich."), d.continuations());
        assertEquals(0, d.gold());
        assertFalse(t.accNorm());
    }

    @Test
    void mmluPerSubjectWithDescriptionAndFirstNFewshot() throws IOException {
        String q = "{\"question\": \" Q%d? \", \"subject\": \"%s\", \"choices\": [\"a\", \"b\", \"c\", \"d\"], \"answer\": %d}";
        write("mmlu/test.jsonl", q.formatted(1, "high_school_physics", 2), q.formatted(2, "anatomy", 0));
        write("mmlu/dev.jsonl", q.formatted(10, "high_school_physics", 1), q.formatted(11, "high_school_physics", 3),
                q.formatted(12, "anatomy", 0));
        assertEquals(List.of("mmlu_high_school_physics", "mmlu_anatomy"),
                Tasks.load(List.of("mmlu"), data, ZERO_SHOT).stream().map(Task::name).toList());
        List<Task> tasks = Tasks.load(List.of("mmlu_high_school_physics"), data, new Tasks.Options(0, 2, 1, 256, 8));
        assertEquals(1, tasks.size());
        Task.Doc d = ((Task.MultipleChoice) tasks.getFirst()).docs().getFirst();
        String expected = "The following are multiple choice questions (with answers) about high school physics.\n\n"
                + "Q10?\nA. a\nB. b\nC. c\nD. d\nAnswer: B\n\n"
                + "Q11?\nA. a\nB. b\nC. c\nD. d\nAnswer: D\n\n"
                + "Q1?\nA. a\nB. b\nC. c\nD. d\nAnswer:";
        assertEquals(expected, d.contexts().getFirst());
        assertEquals(List.of(" A", " B", " C", " D"), d.continuations());
        assertEquals(2, d.gold());
        // anatomy has only one dev example: asking for two is an error naming the file and subject
        var e = assertThrows(IllegalArgumentException.class,
                () -> Tasks.load(List.of("mmlu"), data, new Tasks.Options(0, 2, 1, 256, 8)));
        assertTrue(e.getMessage().contains("dev.jsonl") && e.getMessage().contains("anatomy"), e.getMessage());
    }

    @Test
    void lambadaSplitsOffTheLastWord() throws IOException {
        write("lambada_openai/test.jsonl", "{\"text\": \"he opened the door and saw his dog\"}");
        Task.LastWord t = (Task.LastWord) Tasks.load(List.of("lambada_openai"), data, ZERO_SHOT).getFirst();
        assertEquals(new Task.Pair("he opened the door and saw his", " dog"), t.docs().getFirst());
    }

    @Test
    void fewshotIsSeededAndNeverShowsTheDocumentItself() throws IOException {
        String[] lines = new String[6];
        for (int i = 0; i < 6; i++) lines[i] = "{\"goal\": \"g" + i + "\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 0}";
        write("piqa/validation.jsonl", lines);
        Tasks.Options three = new Tasks.Options(0, 3, 42, 256, 8);
        Task.MultipleChoice a = mc("piqa", three);
        Task.MultipleChoice b = mc("piqa", three);
        for (int i = 0; i < 6; i++) {
            String ctx = a.docs().get(i).contexts().getFirst();
            assertEquals(ctx, b.docs().get(i).contexts().getFirst(), "same seed, same examples");
            assertEquals(4, ctx.split("Question: ").length - 1, "three examples + the document");
            assertEquals(1, ctx.split("Question: g" + i + "\n").length - 1, "the document appears once: " + ctx);
            assertTrue(ctx.endsWith("Question: g" + i + "\nAnswer:"));
            assertTrue(ctx.contains("\nAnswer: a\n\nQuestion: "), "an example ends with its gold answer");
        }
    }

    static String piqaLine(String goal, int label) {
        return "{\"goal\": \"" + goal + "\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": " + label + "}";
    }

    static String arcLine(String question) {
        return "{\"question\": \"" + question + "\", \"choices\": {\"text\": [\"x\", \"y\"], \"label\": [\"A\", \"B\"]}, "
                + "\"answerKey\": \"A\"}";
    }

    /** The context lm-eval builds for a question after the picked examples (an example ends with its gold answer). */
    static String expected(String prompt, String[] poolPrompts, String[] poolAnswers, int... picks) {
        StringBuilder sb = new StringBuilder();
        for (int p : picks) sb.append(poolPrompts[p]).append(' ').append(poolAnswers[p]).append("\n\n");
        return sb.append(prompt).toString();
    }

    /**
     * lm-eval's ContextSampler with random.Random(1234), one per task, advanced doc by doc. Golden picks:
     * python3 -c "import random; r=random.Random(1234); print([r.sample(range(12),4) for _ in range(5)])"
     *   -> [[7, 1, 0, 10], [9, 0, 1, 11], [5, 3, 0, 9], [0, 5, 9, 7], [9, 7, 2, 1]]
     * python3 -c "import random; r=random.Random(1234); print([r.sample(range(12),3) for _ in range(5)])"
     *   -> [[7, 1, 0], [1, 9, 0], [10, 1, 11], [5, 3, 0], [0, 11, 5]]
     * python3 -c "import random; r=random.Random(1234); print([r.sample(range(5),4) for _ in range(5)])"
     *   -> [[3, 0, 4, 2], [4, 0, 2, 3], [0, 2, 4, 3], [0, 4, 1, 2], [4, 3, 0, 2]]
     */
    @Test
    void fewshotPicksAreLmEvalsContextSampler() throws IOException {
        String[] val = new String[5], train = new String[12];
        for (int i = 0; i < 5; i++) val[i] = piqaLine("v" + i, 0);
        for (int i = 0; i < 12; i++) train[i] = piqaLine("t" + i, i % 2);
        train[5] = val[2]; // a training doc equal to evaluated doc 2 is dropped from its examples
        write("piqa/validation.jsonl", val);
        write("piqa/train.jsonl", train);
        String[] trainPrompts = new String[12], trainAnswers = new String[12];
        for (int i = 0; i < 12; i++) {
            trainPrompts[i] = "Question: " + (i == 5 ? "v2" : "t" + i) + "\nAnswer:";
            trainAnswers[i] = i % 2 == 0 || i == 5 ? "a" : "b";
        }
        // piqa.yaml has no test_split, so fewshot_split == test_split (both None): draw n + 1, drop the doc, keep n
        int[][] piqaPicks = {{7, 1, 0}, {9, 0, 1}, {3, 0, 9}, {0, 5, 9}, {9, 7, 2}};
        Task.MultipleChoice piqa = mc("piqa", new Tasks.Options(0, 3, 1234, 256, 8));
        for (int d = 0; d < 5; d++) {
            assertEquals(expected("Question: v" + d + "\nAnswer:", trainPrompts, trainAnswers, piqaPicks[d]),
                    piqa.docs().get(d).contexts().getFirst(), "piqa doc " + d);
        }
        // --limit evaluates the first documents; the generator advances through them in the same order
        Task.MultipleChoice limited = mc("piqa", new Tasks.Options(2, 3, 1234, 256, 8));
        assertEquals(piqa.docs().subList(0, 2), limited.docs());

        // arc_easy.yaml sets test_split: test, so the sampler draws exactly n
        String[] arcTrain = new String[12];
        for (int i = 0; i < 12; i++) arcTrain[i] = arcLine("t" + i);
        write("arc_easy/test.jsonl", arcLine("q0"), arcLine("q1"), arcLine("q2"), arcLine("q3"), arcLine("q4"));
        write("arc_easy/train.jsonl", arcTrain);
        String[] arcPrompts = new String[12], arcAnswers = new String[12];
        for (int i = 0; i < 12; i++) {
            arcPrompts[i] = "Question: t" + i + "\nAnswer:";
            arcAnswers[i] = "x";
        }
        int[][] arcPicks = {{7, 1, 0}, {1, 9, 0}, {10, 1, 11}, {5, 3, 0}, {0, 11, 5}};
        Task.MultipleChoice arc = mc("arc_easy", new Tasks.Options(0, 3, 1234, 256, 8));
        for (int d = 0; d < 5; d++) {
            assertEquals(expected("Question: q" + d + "\nAnswer:", arcPrompts, arcAnswers, arcPicks[d]),
                    arc.docs().get(d).contexts().getFirst(), "arc_easy doc " + d);
        }

        // without train.jsonl the evaluated split is the pool: n + 1 drawn, the document itself dropped
        Files.delete(data.resolve("piqa/train.jsonl"));
        String[] valPrompts = new String[5], valAnswers = new String[5];
        for (int i = 0; i < 5; i++) {
            valPrompts[i] = "Question: v" + i + "\nAnswer:";
            valAnswers[i] = "a";
        }
        int[][] selfPicks = {{3, 4, 2}, {4, 0, 2}, {0, 4, 3}, {0, 4, 1}, {3, 0, 2}};
        Task.MultipleChoice self = mc("piqa", new Tasks.Options(0, 3, 1234, 256, 8));
        for (int d = 0; d < 5; d++) {
            assertEquals(expected(valPrompts[d], valPrompts, valAnswers, selfPicks[d]),
                    self.docs().get(d).contexts().getFirst(), "piqa without train.jsonl, doc " + d);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> mc("piqa", new Tasks.Options(0, 5, 1234, 256, 8)));
        assertTrue(e.getMessage().contains("draws 6 examples") && e.getMessage().contains("only 5"), e.getMessage());
    }

    @Test
    void limitTakesTheFirstDocuments() throws IOException {
        write("piqa/validation.jsonl", "{\"goal\": \"g0\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 0}",
                "{\"goal\": \"g1\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 1}");
        assertEquals(1, mc("piqa", new Tasks.Options(1, 0, 1, 256, 8)).docs().size());
    }

    // ---- malformed input --------------------------------------------------------------------

    void assertError(String task, String... fragments) {
        var e = assertThrows(IllegalArgumentException.class, () -> Tasks.load(List.of(task), data, ZERO_SHOT));
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }

    @Test
    void missingFileNamesTheFileAndTheSchema() {
        assertError("piqa", data.resolve("piqa/validation.jsonl").toString(), "\"goal\"", "\"sol1\"", "\"label\"");
        assertError("hellaswag", "hellaswag/validation.jsonl", "\"endings\"");
        assertError("wikitext", "wikitext/test.jsonl", "wikitext-2/test.txt");
    }

    @Test
    void badJsonLineNamesFileAndLine() throws IOException {
        write("piqa/validation.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 0}", "{\"goal\": oops}");
        assertError("piqa", "piqa/validation.jsonl:2", "not valid JSON");
    }

    @Test
    void missingFieldNamesFileLineAndField() throws IOException {
        write("piqa/validation.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 0}",
                "", "{\"goal\": \"g\", \"sol1\": \"a\", \"label\": 0}");
        assertError("piqa", "piqa/validation.jsonl:3", "missing field 'sol2'");
    }

    @Test
    void wrongLabelNamesFileAndLine() throws IOException {
        write("piqa/validation.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 2}");
        assertError("piqa", "piqa/validation.jsonl:1", "label 2 is out of range for 2 choices");
        write("winogrande/validation.jsonl", "{\"sentence\": \"a _ b\", \"option1\": \"x\", \"option2\": \"y\", \"answer\": \"3\"}");
        assertError("winogrande", "winogrande/validation.jsonl:1", "'answer' must be \"1\" or \"2\"");
        write("arc_easy/test.jsonl", "{\"question\": \"q\", \"choices\": {\"text\": [\"x\"], \"label\": [\"A\"]}, \"answerKey\": \"E\"}");
        assertError("arc_easy", "arc_easy/test.jsonl:1", "answerKey 'E'");
        write("boolq/validation.jsonl", "{\"passage\": \"p\", \"question\": \"q\", \"label\": \"yes\"}");
        assertError("boolq", "boolq/validation.jsonl:1", "'label' must be an integer");
    }

    @Test
    void textReadsAnyFileUnderTheNameGiven() throws IOException {
        write("books/a.txt", "Call me Ishmael.");
        String name = "text:" + data.resolve("books/a.txt");
        Task.TokenWindows t = (Task.TokenWindows) Tasks.load(List.of(name), data, new Tasks.Options(4, 0, 1, 128, 2)).getFirst();
        assertEquals(name, t.name());
        assertEquals("Call me Ishmael.\n", t.text());
        assertEquals(data.resolve("books/a.txt"), t.file());
        assertEquals(128, t.seq());
        assertEquals(2, t.batch());
        assertEquals(4, t.limit());
        Task.TokenWindows w = (Task.TokenWindows) Tasks.load(List.of(name), data, new Tasks.Options(4, 0, 1, 128, 2, 9)).getFirst();
        assertEquals(9, w.limit(), "--windows overrides --limit for windowed tasks");
    }

    @Test
    void textWithoutAReadableFileSaysWhich() throws IOException {
        assertError("text:", "give a file after 'text:'");
        assertError("text:" + data.resolve("nope.txt"), "text:", "no such file", data.resolve("nope.txt").toString());
        Files.write(data.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xe9});
        assertError("text:" + data.resolve("latin1.txt"), "latin1.txt is not UTF-8 text");
        assertError("wikitext-windows", "wikitext-windows: no such file", "wikitext-2/test.txt");
    }

    @Test
    void unknownTaskListsTheKnownOnes() {
        assertError("piqa2", "Unknown task 'piqa2'", "hellaswag", "wikitext-windows", "text:PATH");
    }
}
