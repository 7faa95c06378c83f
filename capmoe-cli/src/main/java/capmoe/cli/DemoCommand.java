package capmoe.cli;

import capmoe.eval.Evaluation;
import capmoe.eval.PolicyTable;
import capmoe.eval.Task;
import capmoe.eval.TaskResult;
import capmoe.eval.Tasks;
import capmoe.model.ModelConfig;
import capmoe.runtime.dist.Communicator;
import capmoe.runtime.dist.Wire;
import capmoe.runtime.mpi.MpiJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
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
 * (OlmoeSmallConformanceTest). Under {@code mpirun -np D} every rank runs it as one rank of the
 * multi-process runtime ({@link Evaluation.Ranks}: each forward pass's windows split over the
 * ranks, experts on their owning rank) and the EP speedup is measured over the ranks
 * ({@link capmoe.eval.EpRuntime.OverRanks}); rank 0 reads the inputs, prints and writes.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
                "Runs the trained MoE bundled in the repository (models/olmoe-small: 64 experts, top-8, trained on "
                        + "Gutenberg books) on the first --windows windows of each --text (default: its held-out books, in "
                        + "domain, and WikiText-2 test, out of domain; both bundled in data/) under every capacity policy, with "
                        + "the expert-parallel runtime's accounting (timed-serial over --devices by default), and prints per "
                        + "text and policy: dropped %%, max/mean load, measured EP speedup, perplexity and its change vs none. "
                        + "Writes report.html, results.json and results.md into --out.",
                "",
                "Windows: each text is encoded whole (no special tokens) and cut into windows of --seq tokens, "
                        + "--batch windows per forward pass (capacity is computed over the batch); a window's first token is "
                        + "context, the other seq-1 are scored.",
                "",
                "EP speedup: every MoE layer call of the run is recorded, then replayed --repeats times under all "
                        + "policies back to back (order rotated each time), so drift on a busy machine hits every policy alike; "
                        + "each repeat gives a speedup (none's time over the policy's): the median is printed, 'range' = "
                        + "lowest to highest. expanded@G adds the fixed experts 0-7 (official code; all on device 0), "
                        + "expanded_origin@G the best experts of each token's origin device (the expert-parallel form).",
                "",
                "Under mpirun -np D: every rank runs it (data-parallel attention, each rank owning E/D experts); rank "
                        + "0 reads the texts, prints and writes; the EP speedup is the recorded calls replayed over the ranks "
                        + "(all-to-alls and waits measured).",
                "",
                "Without a model: ./capmoe synthetic (a seeded, skewed routing sample).",
                ""})
public final class DemoCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Mixin ModelOption model;

    @Mixin DeviceOption devices;

    @Mixin PolicyOption policies = new PolicyOption(PolicyOption.DEMO);

    @Mixin RanksOption ranks = new RanksOption();

    @Mixin PhaseOption phases = new PhaseOption();

    @Option(names = "--synthetic", hidden = true, description = "moved: ./capmoe synthetic") boolean synthetic;

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
        Communicator comm = MpiJob.current().orElse(null);
        List<Task> tasks = new ArrayList<>();
        if (texts.isEmpty()) {
            // named as the eval task that scores the same file: text:PATH, PATH relative to the repository
            for (String t : DEFAULT_TEXTS) tasks.add(text(comm, Tasks.TEXT + t, repo.resolve(t), seq, batch, windows.windows));
        } else {
            for (Path t : texts) tasks.add(text(comm, Tasks.TEXT + t, t, seq, batch, windows.windows));
        }
        ModelConfig config = ModelConfig.read(modelDir);
        if (seq > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq " + seq + " is longer than the model's context (max_position_embeddings "
                    + config.maxPositionEmbeddings() + ")");
        }
        var parsed = spec.commandLine().getParseResult();
        RanksOption.requireMpirun(spec, comm != null);
        for (String inJvm : List.of("--devices", "--ep-mode", "--link-gbps")) {
            if (comm != null && parsed.hasMatchedOption(inJvm)) {
                throw new IllegalArgumentException(inJvm + " is for in-JVM devices; under mpirun the ranks are the devices "
                        + "(D = mpirun's -np) and every all-to-all and wait is measured");
            }
        }
        // one process: timed-serial by default, the devices timed one after another, so 8 devices fit on 2 cores;
        // under mpirun: the recorded calls replayed over the ranks, every all-to-all and wait measured
        Evaluation.Config c = new Evaluation.Config(modelDir, dtype, model.weights(), tasks, policies.policies(),
                comm == null ? devices.check(config.numExperts()) : comm.size(), batch, 0, -1, true,
                (comm == null ? new Evaluation.Ep(timing.mode(), timing.linkGbps, repeats, 1) : Evaluation.Ep.overRanks(repeats, 1))
                        .withDecodeSteps(phases.decodeSteps), phases.replicateTrace);
        boolean rank0 = comm == null || comm.rank() == 0;
        long t0 = System.nanoTime();
        Evaluation.Result result = Evaluation.run(c, rank0 ? report.progress() : null,
                comm == null ? null : new Evaluation.Ranks(comm, ranks.scope(), ranks.wire()));
        if (!rank0) return 0; // rank 0 prints and writes
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("texts", tasks.stream().map(t -> ((Task.TokenWindows) t).file().toString()).toList());
        meta.put("windows", windows.windows);
        meta.put("seq", seq);
        if (comm != null) {
            meta.put("ranks", comm.size());
            meta.put("capacity_scope", ranks.scope().label());
            meta.put("wire", ranks.wire().label());
        }
        String where = comm == null ? c.devices() + " devices (EP runtime, " + timing.mode().id() + ")"
                : comm.size() + " MPI ranks (EP over the ranks, capacity scope " + ranks.scope().label()
                + (ranks.wire() == Wire.FP32 ? "" : ", " + ranks.wire().label() + " rows") + ")";
        result.write(out, "capmoe demo: " + modelDir.getFileName() + " on "
                + String.join(", ", tasks.stream().map(t -> ((Task.TokenWindows) t).file().getFileName().toString()).toList()), meta);
        double seconds = (System.nanoTime() - t0) / 1e9;

        PrintWriter w = spec.commandLine().getOut();
        for (Task task : tasks) {
            TaskResult none = result.results().get("none", task.name());
            w.printf(Locale.ROOT, "%s on %s: %d window%s x %d tokens, batch %d, %s%n%n",
                    modelDir.getFileName(), ((Task.TokenWindows) task).file().getFileName(), none.samples(),
                    none.samples() == 1 ? "" : "s", seq, batch, where);
            w.println(PolicyTable.render(result.results(), task.name()));
        }
        w.println("dropped = top-k (token, expert) pairs removed; added = pairs kept outside the top-k (expanded's local experts);");
        w.println("max/mean = busiest expert's load over the mean, averaged over MoE layer calls;");
        w.printf(Locale.ROOT, "EP speedup = the EP runtime's MoE time under none / under the policy, median over %d repeats timed%n", repeats);
        w.println("  interleaved over the policies (each MoE layer call under every policy back to back); range = lowest-highest repeat;");
        if (comm != null) {
            w.printf(Locale.ROOT, "  (over the %d ranks: a call's time = the slowest rank's dispatch + experts + wait + combine, measured)%n",
                    comm.size());
        }
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

    /** A text to score; under mpirun rank 0 reads it and hands it to the other ranks. */
    private static Task text(Communicator comm, String name, Path file, int seq, int batch, int windows) {
        if (comm == null) return Task.TokenWindows.of(name, file, seq, batch, windows);
        String text = comm.rank() == 0 ? Task.TokenWindows.of(name, file, seq, batch, windows).text() : null;
        text = new String(comm.share(text == null ? null : text.getBytes(StandardCharsets.UTF_8), 0), StandardCharsets.UTF_8);
        return new Task.TokenWindows(name, file, text, seq, batch, windows);
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
