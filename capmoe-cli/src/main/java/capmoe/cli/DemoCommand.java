package capmoe.cli;

import capmoe.eval.Evaluation;
import capmoe.eval.PolicyTable;
import capmoe.eval.Task;
import capmoe.eval.TaskResult;
import capmoe.eval.Tasks;
import capmoe.model.ModelConfig;
import capmoe.runtime.ep.EpMode;
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
                "runtime's accounting (timed-serial over --devices), and prints per text and",
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

    @Mixin PhaseOption phases = new PhaseOption();

    @Option(names = "--synthetic", hidden = true, description = "moved: ./capmoe synthetic")
    boolean synthetic;

    @Option(names = "--text", paramLabel = "FILE", split = ",",
            description = "texts to score, comma separated (default: <repo>/data/gutenberg/heldout.txt,<repo>/data/wikitext-2/test.txt)")
    List<Path> texts = new ArrayList<>();

    @Option(names = "--dtype", description = "run as if loaded with this torch_dtype (float32|bfloat16); float32, as "
            + "olmoe-small's PyTorch references were computed (fp32 RoPE frequencies) (default: ${DEFAULT-VALUE})")
    String dtype = "float32";

    @Option(names = "--windows", description = "first N windows of each text (default: ${DEFAULT-VALUE})")
    int windows = 8;

    @Option(names = "--seq", description = "tokens per window, at least 2 (default: ${DEFAULT-VALUE})")
    int seq = 256;

    @Option(names = "--batch", description = "windows per forward pass (default: ${DEFAULT-VALUE})")
    int batch = 8;

    @Option(names = "--repeats", description = "timed replays of every MoE layer call per policy; speedup = median (default: ${DEFAULT-VALUE})")
    int repeats = 3;

    @Option(names = "--out", paramLabel = "DIR", description = "report directory (default: ${DEFAULT-VALUE})")
    Path out = Path.of("reports", "demo");

    @Option(names = "--quiet", description = "no progress bar")
    boolean quiet;

    @Override
    public Integer call() throws IOException {
        if (synthetic) throw new IllegalArgumentException("demo --synthetic is now its own command: ./capmoe synthetic");
        if (windows < 1) throw new IllegalArgumentException("--windows must be >= 1 (got " + windows + ")");
        if (seq < 2) throw new IllegalArgumentException("--seq must be >= 2: a window scores tokens 2..seq from the ones before (got " + seq + ")");
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1 (got " + batch + ")");
        Path repo = !model.given() || texts.isEmpty() ? repoRoot() : null;
        Path modelDir = model.orElse(repo == null ? null : repo.resolve(DEFAULT_MODEL));
        List<Task> tasks = new ArrayList<>();
        if (texts.isEmpty()) {
            // named as the eval task that scores the same file: text:PATH, PATH relative to the repository
            for (String t : DEFAULT_TEXTS) tasks.add(Task.TokenWindows.of(Tasks.TEXT + t, repo.resolve(t), seq, batch, windows));
        } else {
            for (Path t : texts) tasks.add(Task.TokenWindows.of(Tasks.TEXT + t, t, seq, batch, windows));
        }
        ModelConfig config = ModelConfig.read(modelDir);
        if (seq > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq " + seq + " is longer than the model's context (max_position_embeddings "
                    + config.maxPositionEmbeddings() + ")");
        }
        // timed-serial: the devices are timed one after another, so 8 devices fit on 2 cores
        Evaluation.Config c = new Evaluation.Config(modelDir, dtype, quantize.format(), tasks, policies.policies(),
                devices.check(config.numExperts()), batch, 0, -1, true,
                new Evaluation.Ep(EpMode.TIMED_SERIAL, 0, repeats, 1, phases.decodeSteps), phases.replicateTrace);
        long t0 = System.nanoTime();
        Evaluation.Result result = Evaluation.run(c, quiet ? null : System.err);
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("texts", tasks.stream().map(t -> ((Task.TokenWindows) t).file().toString()).toList());
        meta.put("windows", windows);
        meta.put("seq", seq);
        result.write(out, "capmoe demo: " + modelDir.getFileName() + " on "
                + String.join(", ", tasks.stream().map(t -> ((Task.TokenWindows) t).file().getFileName().toString()).toList()), meta);
        double seconds = (System.nanoTime() - t0) / 1e9;

        PrintWriter w = spec.commandLine().getOut();
        for (Task task : tasks) {
            TaskResult none = result.results().get("none", task.name());
            w.printf(Locale.ROOT, "%s on %s: %d windows x %d tokens, batch %d, %d devices (EP runtime, timed-serial)%n%n",
                    modelDir.getFileName(), ((Task.TokenWindows) task).file().getFileName(), none.samples(), seq, batch, c.devices());
            w.println(PolicyTable.render(result.results(), task.name()));
        }
        w.println("dropped = top-k (token, expert) pairs removed; added = pairs kept outside the top-k (expanded's local experts);");
        w.println("max/mean = busiest expert's load over the mean, averaged over MoE layer calls;");
        w.printf(Locale.ROOT, "EP speedup = the EP runtime's MoE time under none / under the policy, median over %d repeats timed%n", repeats);
        w.println("  interleaved over the policies (each MoE layer call under every policy back to back); range = lowest-highest repeat;");
        w.println("EP bound = sum of the busiest device's load under none / under the policy (what the speedup can reach);");
        w.println("dev.max/mean = busiest device's load over the mean device's, averaged over MoE layer calls;");
        if (phases.decodeSteps > 0) {
            w.printf(Locale.ROOT, "decode, dec.bound = the same for %d greedy decode steps after each batch (one token per window%n", phases.decodeSteps);
            w.println("  per MoE call, not scored), timed apart from the windows' pass (prefill: the columns before);");
        }
        if (result.results().replicated()) {
            w.println("replicate@N = EPLB replicas per MoE layer placed from " + (phases.replicateTrace != null
                    ? "the trace " + phases.replicateTrace : "none's routing of these windows (in-sample)")
                    + "; extra/device in bf16 weights;");
        }
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
