package capmoe.cli;

import capmoe.eval.Evaluation;
import capmoe.eval.PolicyTable;
import capmoe.eval.Task;
import capmoe.eval.TaskResult;
import capmoe.eval.Tasks;
import capmoe.model.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code ./capmoe demo}: the trained MoE bundled in the repository (models/olmoe-small: 64 experts,
 * top-8) on the beginning of its held-out books (in domain) and of WikiText-2 test (out of
 * domain), every capacity policy, timed through the expert-parallel runtime ({@link Evaluation});
 * prints one {@link PolicyTable} per text and writes the reports. The windows and batches are
 * those of olmoe-small's PyTorch references ({@link Task.TokenWindows}), run in float32 as they
 * were, so the perplexities are the reference computation's on these windows
 * (OlmoeSmallConformanceTest).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
                "Runs the trained MoE bundled in the repository (models/olmoe-small: 64 experts,",
                "top-8, trained on Gutenberg books) on the first --windows windows of each --text",
                "(default: its held-out books, in domain, and WikiText-2 test, out of domain; both",
                "bundled in data/) under every capacity policy, with the expert-parallel",
                "runtime's accounting (timed-serial over --devices by default), and prints per text and",
                "policy: dropped %%, max/mean load, measured EP speedup, perplexity and its change",
                "vs none. Writes report.html, results.json and results.md into --out.",
                "",
                "Windows: each text is encoded whole (no special tokens) and cut into windows of",
                "--seq tokens, --batch windows per forward pass (capacity is computed over the",
                "batch); a window's first token is context, the other seq-1 are scored.",
                "",
                "EP speedup: every MoE layer call of the run is recorded, then replayed --repeats",
                "times under all policies back to back (order rotated each time), so drift on a",
                "busy machine hits every policy alike; each repeat gives a speedup (none's time over",
                "the policy's): the median is printed, 'range' = lowest..highest. expanded@G adds the",
                "fixed experts 0-7 (official code; all on device 0), expanded_origin@G the best",
                "experts of each token's origin device (the expert-parallel form).",
                "",
                "Without a model: ./capmoe synthetic (a seeded, skewed routing sample).",
                ""})
public final class DemoCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Mixin ModelOption model;

    @Mixin QuantizeOption quantize = new QuantizeOption();

    @Mixin DeviceOption devices;

    @Mixin PolicyOption policies = new PolicyOption(PolicyOption.DEMO);

    @Option(names = "--synthetic", hidden = true, description = "moved: ./capmoe synthetic")
    boolean synthetic;

    @Option(names = "--text", paramLabel = "FILE", split = ",",
            description = "texts to score, comma separated (default: <repo>/data/gutenberg/heldout.txt,<repo>/data/wikitext-2/test.txt)")
    List<Path> texts = new ArrayList<>();

    @Option(names = "--dtype", description = "run as if loaded with this torch_dtype (float32|bfloat16); float32, as "
            + "olmoe-small's PyTorch references were computed (fp32 RoPE frequencies) (default: ${DEFAULT-VALUE})")
    String dtype = "float32";

    @Mixin WindowOptions windows = new WindowOptions(8);

    @Mixin EpTimingOptions timing = new EpTimingOptions(3, 0);

    @Mixin ReportOptions report = new ReportOptions("demo");

    @Override
    public Integer call() throws IOException {
        if (synthetic) throw new IllegalArgumentException("demo --synthetic is now its own command: ./capmoe synthetic");
        int seq = windows.check(1).seq, batch = windows.batch, repeats = timing.repeats();
        Path out = report.out;
        Path repo = !model.given() || texts.isEmpty() ? repoRoot() : null;
        Path modelDir = model.orElse(repo == null ? null : repo.resolve(DEFAULT_MODEL));
        List<Task> tasks = new ArrayList<>();
        if (texts.isEmpty()) {
            // named as the eval task that scores the same file: text:PATH, PATH relative to the repository
            for (String t : DEFAULT_TEXTS) tasks.add(Task.TokenWindows.of(Tasks.TEXT + t, repo.resolve(t), seq, batch, windows.windows));
        } else {
            for (Path t : texts) tasks.add(Task.TokenWindows.of(Tasks.TEXT + t, t, seq, batch, windows.windows));
        }
        ModelConfig config = ModelConfig.read(modelDir);
        if (seq > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq " + seq + " is longer than the model's context (max_position_embeddings "
                    + config.maxPositionEmbeddings() + ")");
        }
        // timed-serial by default: the devices are timed one after another, so 8 devices fit on 2 cores
        Evaluation.Config c = new Evaluation.Config(modelDir, dtype, quantize.format(), tasks, policies.policies(),
                devices.check(config.numExperts()), batch, 0, -1, true, new Evaluation.Ep(timing.mode(), timing.linkGbps, repeats, 1));
        long t0 = System.nanoTime();
        Evaluation.Result result = Evaluation.run(c, report.progress());
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("texts", tasks.stream().map(t -> ((Task.TokenWindows) t).file().toString()).toList());
        meta.put("windows", windows.windows);
        meta.put("seq", seq);
        result.write(out, "capmoe demo: " + modelDir.getFileName() + " on "
                + String.join(", ", tasks.stream().map(t -> ((Task.TokenWindows) t).file().getFileName().toString()).toList()), meta);
        double seconds = (System.nanoTime() - t0) / 1e9;

        PrintWriter w = spec.commandLine().getOut();
        for (Task task : tasks) {
            TaskResult none = result.results().get("none", task.name());
            w.printf(Locale.ROOT, "%s on %s: %d windows x %d tokens, batch %d, %d devices (EP runtime, %s)%n%n",
                    modelDir.getFileName(), ((Task.TokenWindows) task).file().getFileName(), none.samples(), seq, batch, c.devices(),
                    timing.mode().id());
            w.println(PolicyTable.render(result.results(), task.name()));
        }
        w.println("dropped = top-k (token, expert) pairs removed; added = pairs kept outside the top-k (expanded's local experts);");
        w.println("max/mean = busiest expert's load over the mean, averaged over MoE layer calls;");
        w.printf(Locale.ROOT, "EP speedup = the EP runtime's MoE time under none / under the policy, median over %d repeats timed%n", repeats);
        w.println("  interleaved over the policies (each MoE layer call under every policy back to back); range = lowest-highest repeat;");
        w.println("EP bound = sum of the busiest device's load under none / under the policy (what the speedup can reach);");
        w.println("expanded = fixed local experts 0-7 (official code, all on device 0), expanded_origin = the EP form.");
        w.printf(Locale.ROOT, "%nwrote %s (and results.json, results.md) in %.0f s%n",
                out.resolve("report.html").toAbsolutePath().normalize(), seconds);
        w.flush();
        return 0;
    }

    /** The bundled model and texts, relative to the repository. */
    static final String DEFAULT_MODEL = "models/olmoe-small";
    static final List<String> DEFAULT_TEXTS = List.of("data/gutenberg/heldout.txt", "data/wikitext-2/test.txt");

    /** The repository holding models/olmoe-small: above the jar (target/ of capmoe-cli), else above the current directory. */
    static Path repoRoot() {
        List<Path> starts = new ArrayList<>();
        try {
            starts.add(Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath());
        } catch (URISyntaxException | SecurityException | NullPointerException e) {
            // no code source: fall back to the current directory
        }
        starts.add(Path.of("").toAbsolutePath());
        for (Path start : starts) {
            for (Path p = start; p != null; p = p.getParent()) {
                if (Files.isRegularFile(p.resolve(DEFAULT_MODEL).resolve("config.json"))) return p;
            }
        }
        throw new IllegalArgumentException("cannot find the repository (a folder with " + DEFAULT_MODEL + "/config.json) above "
                + starts + "; pass --model and --text");
    }
}
