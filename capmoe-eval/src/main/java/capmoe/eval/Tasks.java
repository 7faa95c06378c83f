package capmoe.eval;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * The task registry: where each task's local JSONL lives under --data-dir, its schema (the HF
 * dataset lm-eval reads), and lm-eval's prompt format for it.
 *
 * <p>Few-shot examples (multiple-choice tasks only) are lm-eval's picks: its {@code ContextSampler}
 * with one {@code random.Random(seed)} per task ({@link PyRandom}), advanced document by document
 * in evaluation order. Every task here has {@code training_split: train}, so the pool is
 * {@code <task>/train.jsonl}; lm-eval draws {@code n + 1} when the task's few-shot split equals
 * its test split (both unset for piqa, hellaswag, winogrande, boolq) and {@code n} otherwise
 * (arc_easy, arc_challenge, openbookqa set {@code test_split: test}), then drops the document
 * itself (compared by value) and keeps the first n. Without a train.jsonl the pool is the
 * evaluated split, drawn the same way with {@code n + 1} (lm-eval's rule for that case; its picks
 * then differ from a run that has the train split). mmlu takes the first n of its dev split
 * ({@code first_n}).
 */
public final class Tasks {
    private Tasks() { }

    /**
     * How to read tasks: the first {@code limit} documents (0 = all), {@code fewshot} examples drawn
     * with {@code seed} (lm-eval's fewshot_random_seed, 1234 by default); windowed perplexity tasks
     * ({@code wikitext-windows}, {@code text:PATH}) take the first {@code windows} windows of
     * {@code seq} tokens, {@code batch} per forward pass ({@code windows} 0 = {@code limit}).
     */
    public record Options(int limit, int fewshot, long seed, int seq, int batch, int windows) {
        public Options {
            if (limit < 0) throw new IllegalArgumentException("--limit must be >= 0, got " + limit);
            if (fewshot < 0) throw new IllegalArgumentException("--fewshot must be >= 0, got " + fewshot);
            if (seq < 2) throw new IllegalArgumentException("--seq must be >= 2, got " + seq);
            if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
            if (windows < 0) throw new IllegalArgumentException("--windows must be >= 0, got " + windows);
        }

        /** Windowed tasks take the first {@code limit} windows. */
        public Options(int limit, int fewshot, long seed, int seq, int batch) {
            this(limit, fewshot, seed, seq, batch, 0);
        }

        /** How many windows a windowed task scores (0 = all). */
        int windowLimit() {
            return windows > 0 ? windows : limit;
        }
    }

    public static final String PIQA = "{\"goal\": str, \"sol1\": str, \"sol2\": str, \"label\": 0|1} (HF piqa)";
    public static final String HELLASWAG = "{\"activity_label\": str, \"ctx_a\": str, \"ctx_b\": str, "
            + "\"endings\": [4 str], \"label\": \"0\"..\"3\"} (HF hellaswag)";
    public static final String OPENBOOKQA = "{\"question_stem\": str, \"choices\": {\"text\": [str], \"label\": [str]}, "
            + "\"answerKey\": str} (HF openbookqa, main)";
    public static final String ARC = "{\"question\": str, \"choices\": {\"text\": [str], \"label\": [str]}, "
            + "\"answerKey\": str} (HF allenai/ai2_arc)";
    public static final String MMLU = "{\"question\": str, \"subject\": str, \"choices\": [4 str], \"answer\": 0..3} (HF cais/mmlu, all)";
    public static final String WINOGRANDE = "{\"sentence\": str with one '_', \"option1\": str, \"option2\": str, "
            + "\"answer\": \"1\"|\"2\"} (HF winogrande, winogrande_xl)";
    public static final String BOOLQ = "{\"passage\": str, \"question\": str, \"label\": 0|1} (HF super_glue, boolq)";
    public static final String LAMBADA = "{\"text\": str} (HF EleutherAI/lambada_openai)";
    public static final String WIKITEXT = "{\"page\": str} (HF EleutherAI/wikitext_document_level, wikitext-2-raw-v1)";

    /** Prefix of the plain-text perplexity task {@code text:PATH} ({@link Task.TokenWindows} over any file). */
    public static final String TEXT = "text:";

    /** Every task name accepted by --tasks, besides {@code mmlu_<subject>} and {@code text:PATH}. */
    public static final List<String> NAMES = List.of("piqa", "hellaswag", "openbookqa", "arc_easy", "arc_challenge",
            "mmlu", "winogrande", "boolq", "lambada_openai", "wikitext", "wikitext-windows");

    /** Loads the named tasks; {@code mmlu} expands to one task per subject ({@code mmlu_<subject>}). */
    public static List<Task> load(List<String> names, Path dataDir, Options o) {
        if (!Files.isDirectory(dataDir)) throw new IllegalArgumentException("--data-dir " + dataDir + " is not a directory");
        List<Task> tasks = new ArrayList<>();
        for (String name : names) {
            switch (name) {
                case "piqa" -> tasks.add(simple("piqa", dataDir.resolve("piqa/validation.jsonl"), PIQA, o, Tasks::piqa, true, false));
                case "hellaswag" -> tasks.add(simple("hellaswag", dataDir.resolve("hellaswag/validation.jsonl"),
                        HELLASWAG, o, Tasks::hellaswag, true, false));
                case "openbookqa" -> tasks.add(simple("openbookqa", dataDir.resolve("openbookqa/test.jsonl"),
                        OPENBOOKQA, o, Tasks::openbookqa, true, true));
                case "arc_easy", "arc_challenge" -> tasks.add(simple(name, dataDir.resolve(name + "/test.jsonl"),
                        ARC, o, Tasks::arc, true, true));
                case "boolq" -> tasks.add(simple("boolq", dataDir.resolve("boolq/validation.jsonl"), BOOLQ, o, Tasks::boolq, false, false));
                case "winogrande" -> tasks.add(winogrande(dataDir.resolve("winogrande/validation.jsonl"), o));
                case "mmlu" -> tasks.addAll(mmlu(dataDir.resolve("mmlu"), null, o));
                case "lambada_openai" -> tasks.add(lambada(dataDir.resolve("lambada_openai/test.jsonl"), o));
                case "wikitext" -> tasks.add(Wikitext.task(dataDir, o.limit()));
                case "wikitext-windows" -> tasks.add(Task.TokenWindows.of("wikitext-windows",
                        dataDir.resolve("wikitext-2/test.txt"), o.seq(), o.batch(), o.windowLimit()));
                default -> {
                    if (name.startsWith(TEXT)) {
                        tasks.add(text(name, o));
                    } else if (name.startsWith("mmlu_")) {
                        tasks.addAll(mmlu(dataDir.resolve("mmlu"), name.substring("mmlu_".length()), o));
                    } else {
                        throw new IllegalArgumentException("Unknown task '" + name + "'; known: " + String.join(", ", NAMES)
                                + ", mmlu_<subject>, " + TEXT + "PATH");
                    }
                }
            }
        }
        return tasks;
    }

    /**
     * {@code text:PATH}: perplexity over the non-overlapping windows of any UTF-8 file, exactly as
     * {@code wikitext-windows} scores WikiText-2 (see {@link Task.TokenWindows}). PATH is read as
     * given (relative to the working directory, not --data-dir); the task keeps the name as typed.
     */
    static Task.TokenWindows text(String name, Options o) {
        String path = name.substring(TEXT.length());
        if (path.isBlank()) {
            throw new IllegalArgumentException("--tasks " + name + ": give a file after '" + TEXT + "', e.g. "
                    + TEXT + "../shared/data/gutenberg/heldout.txt");
        }
        return Task.TokenWindows.of(name, Path.of(path), o.seq(), o.batch(), o.windowLimit());
    }

    /** A multiple-choice document before few-shot context: lm-eval's doc_to_text, doc_to_choice, gold index. */
    record Mc(String text, List<String> choices, int gold) { }

    // ---- lm-eval prompt formats -------------------------------------------------------------

    static Mc piqa(Jsonl.Item it) {
        // piqa.yaml: "Question: {{goal}}\nAnswer:", choices [sol1, sol2], target label
        return new Mc("Question: " + it.text("goal") + "\nAnswer:", List.of(it.text("sol1"), it.text("sol2")),
                gold(it, it.integer("label"), 2));
    }

    static Mc hellaswag(Jsonl.Item it) {
        // hellaswag utils.process_docs: query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())
        String ctx = it.text("ctx_a") + " " + capitalize(it.text("ctx_b"));
        List<String> endings = new ArrayList<>();
        for (String e : it.texts("endings")) endings.add(hellaswagPreprocess(e));
        return new Mc(hellaswagPreprocess(it.text("activity_label") + ": " + ctx), endings,
                gold(it, it.integer("label"), endings.size()));
    }

    static Mc openbookqa(Jsonl.Item it) {
        // openbookqa.yaml: question_stem, choices.text, choices.label.index(answerKey.lstrip())
        Jsonl.Item choices = it.object("choices");
        return new Mc(it.text("question_stem"), choices.texts("text"),
                labelIndex(it, choices.texts("label"), it.text("answerKey").stripLeading()));
    }

    static Mc arc(Jsonl.Item it) {
        // arc_easy.yaml: "Question: {{question}}\nAnswer:", choices.text, choices.label.index(answerKey)
        Jsonl.Item choices = it.object("choices");
        return new Mc("Question: " + it.text("question") + "\nAnswer:", choices.texts("text"),
                labelIndex(it, choices.texts("label"), it.text("answerKey")));
    }

    static Mc boolq(Jsonl.Item it) {
        // super_glue boolq.yaml: "{{passage}}\nQuestion: {{question}}?\nAnswer:", choices [no, yes], target label
        return new Mc(it.text("passage") + "\nQuestion: " + it.text("question") + "?\nAnswer:", List.of("no", "yes"),
                gold(it, it.integer("label"), 2));
    }

    static Mc mmluDoc(Jsonl.Item it) {
        // mmlu _default_template_yaml: question.strip() + "\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:", choices A-D
        List<String> c = it.texts("choices");
        if (c.size() != 4) throw it.error("field 'choices' must have 4 entries, got " + c.size());
        String text = it.text("question").strip() + "\nA. " + c.get(0) + "\nB. " + c.get(1) + "\nC. " + c.get(2)
                + "\nD. " + c.get(3) + "\nAnswer:";
        return new Mc(text, List.of("A", "B", "C", "D"), gold(it, it.integer("answer"), 4));
    }

    // ---- builders ---------------------------------------------------------------------------

    /**
     * @param hasTestSplit the lm-eval YAML sets {@code test_split} (so its unset fewshot_split differs
     *                     from it and the sampler draws exactly n)
     */
    private static Task.MultipleChoice simple(String name, Path file, String schema, Options o, Function<Jsonl.Item, Mc> format,
                                              boolean accNorm, boolean hasTestSplit) {
        List<Jsonl.Item> all = Jsonl.read(file, schema);
        List<Mc> docs = map(all, format);
        Fewshot shots = Fewshot.of(file, schema, all, o, hasTestSplit);
        List<Mc> pool = shots == null ? List.of() : map(shots.pool(), format);
        PyRandom rnd = new PyRandom(o.seed());
        List<Task.Doc> out = new ArrayList<>();
        int evaluated = limit(docs, o.limit()).size();
        for (int d = 0; d < evaluated; d++) {
            Mc doc = docs.get(d);
            List<Mc> examples = new ArrayList<>();
            if (shots != null) for (int i : shots.picks(all.get(d), o.fewshot(), rnd)) examples.add(pool.get(i));
            out.add(choicesAfter(fewshotPrefix("", examples) + doc.text(), doc));
        }
        return new Task.MultipleChoice(name, out, accNorm);
    }

    /**
     * A task's few-shot pool as lm-eval's {@code ContextSampler} sees it: {@code <task>/train.jsonl}
     * (every task's training_split) or, without it, the evaluated split itself.
     *
     * @param drawExtra sample n + 1 and drop the document itself (fewshot_split == test_split in lm-eval)
     */
    record Fewshot(Path file, List<Jsonl.Item> pool, boolean drawExtra) {

        /** The pool for {@code o.fewshot() > 0}, else null. */
        static Fewshot of(Path evaluated, String schema, List<Jsonl.Item> evaluatedItems, Options o, boolean hasTestSplit) {
            if (o.fewshot() == 0) return null;
            Path train = evaluated.resolveSibling("train.jsonl");
            if (Files.isRegularFile(train)) return new Fewshot(train, Jsonl.read(train, schema), !hasTestSplit);
            return new Fewshot(evaluated, evaluatedItems, true);
        }

        /**
         * get_context's picks for {@code doc}: {@code [x for x in rnd.sample(pool, n (+1)) if x != doc][:n]},
         * as indices into the pool.
         */
        List<Integer> picks(Jsonl.Item doc, int n, PyRandom rnd) {
            int draw = drawExtra ? n + 1 : n;
            if (draw > pool.size()) {
                throw new IllegalArgumentException("--fewshot " + n + ": lm-eval's sampler draws " + draw + " examples from "
                        + file + (drawExtra ? " (n + 1, to leave out the document itself)" : "") + " but it has only "
                        + pool.size());
            }
            List<Integer> out = new ArrayList<>();
            for (int i : rnd.sample(pool.size(), draw)) if (!pool.get(i).node().equals(doc.node())) out.add(i);
            return out.subList(0, Math.min(n, out.size()));
        }
    }

    /** Every choice continues the same context with target_delimiter " ". */
    private static Task.Doc choicesAfter(String context, Mc doc) {
        List<String> contexts = new ArrayList<>();
        List<String> continuations = new ArrayList<>();
        for (String c : doc.choices()) {
            contexts.add(context);
            continuations.add(" " + c);
        }
        return new Task.Doc(contexts, continuations, doc.choices(), doc.gold());
    }

    /** lm-eval: description + examples joined by "\n\n" + "\n\n"; an example is text + " " + gold choice. */
    static String fewshotPrefix(String description, List<Mc> examples) {
        if (examples.isEmpty()) return description;
        StringBuilder sb = new StringBuilder(description);
        for (Mc ex : examples) sb.append(ex.text()).append(' ').append(ex.choices().get(ex.gold())).append("\n\n");
        return sb.toString();
    }

    /** A winogrande item after partial scoring: one context per option, one shared target. */
    private record Wino(List<String> contexts, String target, int gold) { }

    private static Wino wino(Jsonl.Item it) {
        // preprocess_winogrande.py: the context ends with the option substituted for "_", the target is the rest
        String sentence = it.text("sentence");
        int blank = sentence.indexOf('_');
        if (blank < 0) throw it.error("field 'sentence' has no '_' blank");
        String answer = it.text("answer");
        int gold = switch (answer) {
            case "1" -> 0;
            case "2" -> 1;
            default -> throw it.error("field 'answer' must be \"1\" or \"2\", got \"" + answer + "\"");
        };
        String prefix = sentence.substring(0, blank);
        return new Wino(List.of(prefix + it.text("option1"), prefix + it.text("option2")),
                sentence.substring(blank + 1).strip(), gold);
    }

    private static Task.MultipleChoice winogrande(Path file, Options o) {
        List<Jsonl.Item> all = Jsonl.read(file, WINOGRANDE);
        List<Wino> docs = new ArrayList<>();
        for (Jsonl.Item it : all) docs.add(wino(it));
        // winogrande's YAML has no test_split: the sampler draws n + 1
        Fewshot shots = Fewshot.of(file, WINOGRANDE, all, o, false);
        List<Wino> pool = new ArrayList<>();
        if (shots != null) for (Jsonl.Item it : shots.pool()) pool.add(wino(it));
        PyRandom rnd = new PyRandom(o.seed());
        List<Task.Doc> out = new ArrayList<>();
        int evaluated = limit(docs, o.limit()).size();
        for (int d = 0; d < evaluated; d++) {
            Wino w = docs.get(d);
            StringBuilder prefix = new StringBuilder();
            if (shots != null) {
                // lm-eval shows an example as its gold context + target_delimiter + target
                for (int i : shots.picks(all.get(d), o.fewshot(), rnd)) {
                    Wino ex = pool.get(i);
                    prefix.append(ex.contexts().get(ex.gold())).append(' ').append(ex.target()).append("\n\n");
                }
            }
            List<String> contexts = new ArrayList<>();
            for (String c : w.contexts()) contexts.add(prefix + c);
            out.add(new Task.Doc(contexts, List.of(" " + w.target(), " " + w.target()), w.contexts(), w.gold()));
        }
        return new Task.MultipleChoice("winogrande", out, false);
    }

    private static List<Task> mmlu(Path dir, String onlySubject, Options o) {
        Path testFile = dir.resolve("test.jsonl");
        Map<String, List<Mc>> bySubject = bySubject(Jsonl.read(testFile, MMLU));
        Map<String, List<Mc>> dev = Map.of();
        if (o.fewshot() > 0) dev = bySubject(Jsonl.read(dir.resolve("dev.jsonl"), MMLU));
        if (onlySubject != null && !bySubject.containsKey(onlySubject)) {
            throw new IllegalArgumentException("No mmlu subject '" + onlySubject + "' in " + testFile + "; subjects: "
                    + String.join(", ", bySubject.keySet()));
        }
        List<Task> tasks = new ArrayList<>();
        for (var e : bySubject.entrySet()) {
            String subject = e.getKey();
            if (onlySubject != null && !subject.equals(onlySubject)) continue;
            String description = "The following are multiple choice questions (with answers) about "
                    + subject.replace('_', ' ') + ".\n\n";
            List<Mc> shots = List.of();
            if (o.fewshot() > 0) {
                List<Mc> pool = dev.getOrDefault(subject, List.of());
                if (pool.size() < o.fewshot()) {
                    throw new IllegalArgumentException(dir.resolve("dev.jsonl") + ": --fewshot " + o.fewshot()
                            + " needs " + o.fewshot() + " dev examples of subject " + subject + ", found " + pool.size());
                }
                shots = pool.subList(0, o.fewshot()); // lm-eval's first_n sampler
            }
            List<Task.Doc> docs = new ArrayList<>();
            for (Mc doc : limit(e.getValue(), o.limit())) {
                String prefix = shots.isEmpty() ? description : fewshotPrefix(description, shots);
                docs.add(choicesAfter(prefix + doc.text(), doc));
            }
            tasks.add(new Task.MultipleChoice("mmlu_" + subject, docs, false));
        }
        return tasks;
    }

    private static Map<String, List<Mc>> bySubject(List<Jsonl.Item> items) {
        Map<String, List<Mc>> out = new LinkedHashMap<>();
        for (Jsonl.Item it : items) out.computeIfAbsent(it.text("subject"), s -> new ArrayList<>()).add(mmluDoc(it));
        return out;
    }

    private static Task.LastWord lambada(Path file, Options o) {
        List<Task.Pair> docs = new ArrayList<>();
        for (Jsonl.Item it : limit(Jsonl.read(file, LAMBADA), o.limit())) {
            // lambada_openai.yaml: context = all words but the last (split on ' '), target = ' ' + last word
            String text = it.text("text");
            int space = text.lastIndexOf(' ');
            if (space < 0) throw it.error("field 'text' must have at least two words");
            docs.add(new Task.Pair(text.substring(0, space), text.substring(space)));
        }
        return new Task.LastWord("lambada_openai", docs);
    }

    // ---- helpers ----------------------------------------------------------------------------

    static String hellaswagPreprocess(String text) {
        text = text.strip();
        text = text.replace(" [title]", ". ");
        text = text.replaceAll("\\[.*?\\]", "");
        return text.replace("  ", " ");
    }

    /** Python's str.capitalize(): first character upper (title) case, the rest lower case. */
    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        int n = Character.charCount(first);
        return new String(Character.toChars(Character.toTitleCase(first))) + s.substring(n).toLowerCase(Locale.ROOT);
    }

    private static int gold(Jsonl.Item it, int label, int choices) {
        if (label < 0 || label >= choices) {
            throw it.error("label " + label + " is out of range for " + choices + " choices");
        }
        return label;
    }

    private static int labelIndex(Jsonl.Item it, List<String> labels, String key) {
        int i = labels.indexOf(key);
        if (i < 0) throw it.error("answerKey '" + key + "' is not one of the choice labels " + labels);
        return i;
    }

    private static <T> List<T> limit(List<T> xs, int limit) {
        return limit == 0 || limit >= xs.size() ? xs : xs.subList(0, limit);
    }

    private static List<Mc> map(List<Jsonl.Item> items, Function<Jsonl.Item, Mc> format) {
        List<Mc> out = new ArrayList<>();
        for (Jsonl.Item it : items) out.add(format.apply(it));
        return out;
    }
}
