package capmoe.cli;

import capmoe.eval.EvalResults;
import capmoe.eval.Evaluator;
import capmoe.eval.ModelLoader;
import capmoe.eval.ReportFiles;
import capmoe.eval.Task;
import capmoe.eval.TaskResult;
import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.PolicyComparison;
import capmoe.routing.RouterConfig;
import capmoe.routing.RoutingSample;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpMode;
import capmoe.runtime.ep.EpReplay;
import capmoe.tokenizer.HfTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintStream;
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
 * {@code ./capmoe demo}: the trained MoE bundled in the repository (models/olmoe-tiny) on a
 * WikiText-2 slice under every capacity policy, through the expert-parallel runtime; prints one
 * table and writes the HTML report. {@code --synthetic}: every policy on a seeded, skewed routing
 * sample instead (no model).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
                "Runs the trained MoE bundled in the repository (models/olmoe-tiny) on a",
                "WikiText-2 slice under every capacity policy, with the expert-parallel",
                "runtime's accounting (timed-serial over --devices), and prints per policy:",
                "dropped %, max/mean load, measured EP speedup, perplexity and its change",
                "vs none. Writes report.html, results.json and results.md into --out.",
                "",
                "EP speedup: every MoE layer call of the run is recorded, then replayed --repeats",
                "times under all policies back to back (order rotated each time), so drift on a",
                "busy machine hits every policy alike; each repeat gives a speedup (none's time over",
                "the policy's): the median is printed, 'range' = lowest..highest. expanded@G adds the",
                "fixed experts 0-7 (official code; all on device 0), expanded_origin@G the best",
                "experts of each token's origin device (the expert-parallel form).",
                "",
                "--synthetic: runs every capacity policy on a built-in, seeded, skewed routing sample",
                "and prints per policy: capacity C = ceil(gamma*k*T/E), dropped",
                "(token, expert) pairs, tokens left with no expert, max/mean load per",
                "expert and per device before -> after, and the EP speedup bound.",
                "",
                "The sample behaves like a trained router at inference:",
                "  logits[t][e] = ln(w_e) + noise[t][e],",
                "  w_e ~ Pareto(alpha) per expert (heavy-tailed popularity),",
                "  noise ~ Normal(0, sigma) per token and expert",
                "(capmoe.routing.RoutingSample).",
                "",
                "EP speedup bound: under expert parallelism over D devices an MoE layer",
                "waits for its most loaded device, so its time is proportional to the",
                "max device load. A policy speeds the layer up at most by",
                "  maxDeviceLoadBefore / maxDeviceLoadAfter",
                "(communication and attention are not counted: real speedups are lower).",
                ""})
public final class DemoCommand implements Callable<Integer> {

    @Mixin
    QuantizeOption quantize = new QuantizeOption();

    static final String DEMO_POLICIES =
            "none,score@1.0,order@1.0,reverse@1.0,random@1.0,score@1.5,score@2.0,expanded@1.5,expanded_origin@1.5,expert_drop@0.1";

    @Spec CommandSpec spec;

    @Option(names = "--synthetic", description = "the routing-sample demo (no model): options --tokens .. --noise")
    boolean synthetic;

    @Option(names = "--model", description = "trained checkpoint directory (default: <repo>/models/olmoe-tiny)")
    Path model;

    @Option(names = "--text", description = "text to score (default: <repo>/data/wikitext-2/test.txt)")
    Path text;

    @Option(names = "--windows", description = "first N windows of the text (default: ${DEFAULT-VALUE})")
    int windows = 16;

    @Option(names = "--seq", description = "tokens per window (default: ${DEFAULT-VALUE})")
    int seq = 256;

    @Option(names = "--batch", description = "windows per forward pass (default: ${DEFAULT-VALUE})")
    int batch = 8;

    @Option(names = "--repeats", description = "timed replays of every MoE layer call per policy; EP time = median (default: ${DEFAULT-VALUE})")
    int repeats = 3;

    @Option(names = "--out", description = "report directory (default: ${DEFAULT-VALUE})")
    Path out = Path.of("reports", "demo");

    @Option(names = "--quiet", description = "no progress bar")
    boolean quiet;

    @Option(names = "--tokens", description = "tokens T in the routing call (default: ${DEFAULT-VALUE})")
    int tokens = 4096;

    @Option(names = "--experts", description = "experts E (default: ${DEFAULT-VALUE})")
    int experts = 64;

    @Option(names = {"-k", "--top-k"}, description = "experts per token k (default: ${DEFAULT-VALUE})")
    int topK = 8;

    @Option(names = "--devices", description = "devices D, experts placed in contiguous blocks (default: ${DEFAULT-VALUE})")
    int devices = 8;

    @Option(names = "--gamma", description = "capacity factor of the capacity policies (default: ${DEFAULT-VALUE})")
    double gamma = 1.0;

    @Option(names = "--rho", description = "Expert Drop ratio of skipped experts (default: ${DEFAULT-VALUE})")
    double rho = 0.1;

    @Option(names = "--policies", split = ",", paramLabel = "SPEC",
            description = "policies to run instead of the default set, e.g. none,score@1.5,device@1.0")
    List<String> policies = new ArrayList<>();

    @Option(names = "--seed", description = "sample seed (default: ${DEFAULT-VALUE})")
    long seed = 0;

    @Option(names = "--alpha", description = "Pareto tail index of expert popularity; smaller = more skewed (default: ${DEFAULT-VALUE})")
    double alpha = RoutingSample.DEFAULT_ALPHA;

    @Option(names = "--noise", description = "per-token logit noise sigma (default: ${DEFAULT-VALUE})")
    double noise = RoutingSample.DEFAULT_NOISE;

    @Override
    public Integer call() throws IOException {
        return synthetic ? synthetic() : trained();
    }

    private int trained() throws IOException {
        if (windows < 1) throw new IllegalArgumentException("--windows must be >= 1 (got " + windows + ")");
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be >= 1 (got " + repeats + ")");
        Path repo = model == null || text == null ? repoRoot() : null;
        Path modelDir = model != null ? model : repo.resolve("models/olmoe-tiny");
        Path textFile = text != null ? text : repo.resolve("data/wikitext-2/test.txt");
        List<Policy> list = (policies.isEmpty() ? List.of(DEMO_POLICIES.split(",")) : policies).stream().map(Policy::parse).toList();
        if (!list.getFirst().label().equals("none")) {
            throw new IllegalArgumentException("--policies must start with none (the baseline of every change)");
        }
        Task task = Task.TokenWindows.of("wikitext-windows", textFile, seq, batch, windows);

        ModelConfig config = ModelConfig.read(modelDir);
        int d = Math.min(devices, config.numExperts());
        Placement placement = Placement.contiguous(config.numExperts(), d);
        Evaluator.Config evalConfig = new Evaluator.Config(config.maxPositionEmbeddings(), batch,
                EvalCommand.defaultPrefix(config), d);
        // the scores come from the local executor (the EP runtime is bit-identical to it); each policy's
        // MoE layer calls are recorded and timed afterwards through the EP runtime, interleaved
        Map<String, EpReplay.Recorder> recorders = new LinkedHashMap<>();
        for (Policy p : list) recorders.put(p.label(), new EpReplay.Recorder(new LocalExpertExecutor()));
        long t0 = System.nanoTime();
        EvalResults scored;
        List<EpReplay.Timings> timings;
        try (HfTokenizer tokenizer = HfTokenizer.load(modelDir); CausalLM lm = ModelLoader.load(modelDir, null, quantize.format())) {
            Evaluator evaluator = new Evaluator(lm, tokenizer, evalConfig,
                    (policy, listener) -> RunOptions.of(policy).withPlacement(placement).withListener(listener)
                            .withExecutor(recorders.get(policy.label())),
                    quiet ? null : System.err);
            scored = evaluator.run(List.of(task), list);
            // timed-serial: the devices are timed one after another, so 8 devices fit on 2 cores;
            // inside the try: the recorded calls point at the model's mapped weights
            EpMode mode = EpMode.TIMED_SERIAL;
            int threads = EngineCores.defaultThreads(mode, d);
            PrintStream progress = quiet ? null : System.err;
            timings = EpReplay.time(recorders.values().stream().map(EpReplay.Recorder::calls).toList(),
                    Devices.contiguous(config.numExperts(), d), mode, new CommModel(0, 2), dev -> EngineCores.share(threads), repeats, 1,
                    (done, all) -> {
                        if (progress == null) return;
                        progress.printf(Locale.ROOT, "\rEP timing (timed-serial, %d devices): pass %d/%d over every MoE layer call (1 warm-up)", d, done, all);
                        if (done == all) progress.println();
                        progress.flush();
                    });
        }
        recorders.clear();
        Map<String, EpReplay.Speedup> speedups = new LinkedHashMap<>();
        Map<String, Map<String, TaskResult>> byPolicy = new LinkedHashMap<>();
        for (int i = 0; i < list.size(); i++) {
            String label = list.get(i).label();
            speedups.put(label, EpReplay.Speedup.of(timings.getFirst(), timings.get(i)));
            Map<String, TaskResult> m = new LinkedHashMap<>();
            for (Map.Entry<String, TaskResult> e : scored.byPolicy().get(label).entrySet()) {
                m.put(e.getKey(), e.getValue().withEpSeconds(timings.get(i).epSeconds()));
            }
            byPolicy.put(label, m);
        }
        EvalResults results = new EvalResults(byPolicy, scored.config());
        double seconds = (System.nanoTime() - t0) / 1e9;

        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("model", modelDir.toString());
        meta.put("text", textFile.toString());
        meta.put("windows", windows);
        meta.put("seq", seq);
        meta.put("devices", d);
        meta.put("ep_mode", "timed-serial");
        meta.put("ep_repeats", repeats);
        ReportFiles.write(results, meta, out, "capmoe demo: " + modelDir.getFileName() + " on " + textFile.getFileName());

        PrintWriter w = spec.commandLine().getOut();
        TaskResult none = results.get("none", task.name());
        w.printf(Locale.ROOT, "%s on %s: %d windows x %d tokens, batch %d, %d devices (EP runtime, timed-serial)%n%n",
                modelDir.getFileName(), textFile.getFileName(), none.samples(), seq, batch, d);
        w.println(table(results, task.name(), speedups));
        w.println("dropped = top-k (token, expert) pairs removed (n/a for expanded, which adds local experts);");
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

    static String table(EvalResults r, String task, Map<String, EpReplay.Speedup> speedups) {
        double base = r.get("none", task).metrics().get("perplexity");
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-20s %8s %9s %11s %11s %9s %11s %8s%n",
                "policy", "dropped", "max/mean", "EP speedup", "range", "EP bound", "perplexity", "vs none"));
        for (String p : r.policies()) {
            TaskResult t = r.get(p, task);
            double ppl = t.metrics().get("perplexity");
            double dropped = t.load().droppedFraction();
            EpReplay.Speedup s = speedups.get(p);
            sb.append(String.format(Locale.ROOT, "%-20s %8s %9.2f %10.2fx %11s %8.2fx %11.3f %+7.2f%%%n", p,
                    Double.isNaN(dropped) ? "n/a" : String.format(Locale.ROOT, "%.1f%%", 100 * dropped),
                    t.load().meanMaxOverMeanLoad(), s.median(), String.format(Locale.ROOT, "%.2f-%.2f", s.min(), s.max()),
                    r.speedupBound(p, task), ppl, 100 * (ppl / base - 1)));
        }
        return sb.toString();
    }

    /** The repository holding models/olmoe-tiny: above the jar (target/ of capmoe-cli), else above the current directory. */
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
                if (Files.isRegularFile(p.resolve("models/olmoe-tiny/config.json"))) return p;
            }
        }
        throw new IllegalArgumentException("cannot find the repository (a folder with models/olmoe-tiny/config.json) above "
                + starts + "; pass --model and --text");
    }

    private int synthetic() {
        if (tokens < 1) throw new IllegalArgumentException("--tokens must be >= 1 (got " + tokens + ")");
        RouterConfig config = RouterConfig.softmax(experts, topK, false);
        Placement placement = Placement.contiguous(experts, devices);
        List<Policy> list = policies.isEmpty() ? PolicyComparison.defaultPolicies(gamma, rho)
                : policies.stream().map(Policy::parse).toList();
        RoutingSample sample = new RoutingSample(tokens, experts, seed, alpha, noise);
        PolicyComparison comparison = new PolicyComparison(config, placement, list);
        comparison.add(sample.logits(), tokens);

        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "Routing sample: T=%d tokens, E=%d experts, top-%d softmax, D=%d devices (contiguous), "
                + "seed %d, popularity Pareto(alpha=%s), noise sigma=%s%n%n", tokens, experts, topK, devices, seed, alpha, noise);
        out.print(comparison.table());
        out.println();
        out.println("dropped = top-k pairs removed; no-expert = tokens that lost every expert (the residual carries them);");
        out.println("EP bound = max device load before / after (the layer waits for its busiest device).");
        out.flush();
        return 0;
    }
}
