package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.runtime.RoutingListener;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.CoreShare;
import capmoe.runtime.ep.DeviceExpertExecutor;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpReplay;
import capmoe.runtime.ep.EpMode;
import capmoe.runtime.ep.EpStats;
import capmoe.runtime.ep.HtmlReport;
import capmoe.runtime.ep.LayerRecord;
import capmoe.runtime.ep.LayerTiming;
import capmoe.runtime.ep.PolicyRun;
import capmoe.runtime.ep.SkewedOlmoe;
import capmoe.runtime.mpi.MpiJob;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceWriter;
import capmoe.tokenizer.HfTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.function.IntFunction;

/** {@code ./capmoe ep-bench}: the straggler effect under expert parallelism, and what each policy saves. */
@Command(name = "ep-bench", mixinStandardHelpOptions = true,
        description = {
                "Runs a model's MoE layers expert-parallel over D devices (each owning E/D experts, its own worker",
                "and share of the cores) for each capacity policy on the same batches, and prints one table:",
                "dropped pairs, device max/mean load, EP time per MoE layer (critical path + modelled all-to-all),",
                "speedup vs none, and the load bound (sum of max device loads, none / policy).",
                "",
                "Modes: parallel = devices run concurrently with a barrier per layer, wall time measured (needs",
                "cores >= D); timed-serial = devices run one after another, each timed alone with the same cores,",
                "the layer's time is the slowest device (for small machines). Every output names the mode.",
                "",
                "Timing: every policy first runs the batches once through the model (loads, dropped pairs, outputs),",
                "recording each MoE layer call; then every call is replayed --repeats times under all policies back",
                "to back, the order rotated each time, so drift on a busy machine hits every policy alike. Each repeat",
                "gives a speedup (none's time / the policy's in that repeat): speedup = their median, range = lowest..",
                "highest; EP layer = the median repeat's time per call. Per-call detail (HTML, JSON, idle%) = median repeat.",
                "",
                "expanded@G adds the fixed local experts 0-7 to every token (the official code; they all sit on",
                "device 0), expanded_origin@G the m best-scored experts of the token's origin device (the EP form).",
                "",
                "Tokens: --text FILE tokenized with the model's tokenizer.json (e.g. ../shared/data/wikitext-2/test.txt),",
                "or --random-tokens. --make-model DIR first writes an OLMoE-1B-7B-shaped random model with a skewed",
                "router (see capmoe.runtime.ep.SkewedOlmoe) and benchmarks it.",
                ""})
public final class EpBenchCommand implements Callable<Integer> {

    @Mixin
    QuantizeOption quantize = new QuantizeOption();

    @Mixin
    RanksOption ranks = new RanksOption();

    @Spec CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "HF checkpoint directory")
    Path model;

    @Option(names = "--make-model", paramLabel = "DIR",
            description = "write an OLMoE-1B-7B-shaped model (random bf16, skewed router) to DIR and benchmark it")
    Path makeModel;

    @Option(names = "--layers", description = "--make-model: decoder layers (OLMoE-1B-7B has 16; default: ${DEFAULT-VALUE})")
    int layers = 2;

    @Option(names = "--vocab", description = "--make-model: vocabulary (OLMoE has 50304; not part of the MoE layer; default: ${DEFAULT-VALUE})")
    int vocab = 4096;

    @Option(names = "--skew", description = "--make-model: router skew, row e scaled by exp(skew*z_e) (default: ${DEFAULT-VALUE})")
    double skew = 0.5;

    @Option(names = "--devices", description = "devices D (default: ${DEFAULT-VALUE})")
    int devices = 8;

    @Option(names = "--mode", description = "parallel or timed-serial (default: ${DEFAULT-VALUE})")
    String mode = "timed-serial";

    @Option(names = "--policies", split = ",", paramLabel = "SPEC",
            description = "capacity policies; none is always run first as the baseline (default: ${DEFAULT-VALUE})")
    List<String> policies = new ArrayList<>(List.of("none", "score@1.0", "score@1.5", "expanded@1.5",
            "expanded_origin@1.5"));

    @Option(names = "--batch", description = "tokens per batch (one MoE layer call; default: ${DEFAULT-VALUE})")
    int batch = 512;

    @Option(names = "--seq-len", description = "tokens per sequence within a batch (default: ${DEFAULT-VALUE})")
    int seqLen = 128;

    @Option(names = "--batches", description = "measured batches (default: ${DEFAULT-VALUE})")
    int batches = 4;

    @Option(names = "--warmup", description = "warm-up batches, not measured (default: ${DEFAULT-VALUE})")
    int warmup = 1;

    @Option(names = "--repeats", description = "measured replays of every MoE layer call per policy; EP time = median (default: ${DEFAULT-VALUE})")
    int repeats = 5;

    @Option(names = "--replay-warmup", description = "unmeasured replays of every call before them (default: ${DEFAULT-VALUE})")
    int replayWarmup = 1;

    @Option(names = "--text", paramLabel = "FILE", description = "text to tokenize with the model's tokenizer.json")
    Path text;

    @Option(names = "--random-tokens", description = "uniform random token ids instead of text")
    boolean randomTokens;

    @Option(names = "--placement", paramLabel = "FILE", description = "device id per expert (default: contiguous blocks)")
    Path placementFile;

    @Option(names = "--threads-per-device", description = "cores per device (default: parallel cores/D, timed-serial all cores)")
    Integer threadsPerDevice;

    @Option(names = "--link-gbps", description = "per-device link bandwidth for the all-to-all term, 0 = none (default: ${DEFAULT-VALUE})")
    double linkGbps = 400;

    @Option(names = "--seed", description = "seed for --random-tokens and --make-model (default: ${DEFAULT-VALUE})")
    long seed = 0;

    @Option(names = "--json", paramLabel = "FILE", description = "JSON output (default: ${DEFAULT-VALUE})")
    Path json = Path.of("ep-bench.json");

    @Option(names = "--html", paramLabel = "FILE", description = "HTML report (default: ${DEFAULT-VALUE})")
    Path html = Path.of("ep-bench.html");

    @Option(names = "--trace", paramLabel = "FILE", description = "record the none run's routing (for ./capmoe simulate)")
    Path trace;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        EpMode epMode = EpMode.parse(mode);
        if (batch < 1 || seqLen < 1 || batches < 1 || warmup < 0 || repeats < 1 || replayWarmup < 0) {
            throw new IllegalArgumentException("--batch, --seq-len, --batches and --repeats must be >= 1, --warmup and --replay-warmup >= 0");
        }
        if ((model == null) == (makeModel == null)) throw new IllegalArgumentException("give exactly one of --model DIR or --make-model DIR");
        if (text != null && randomTokens) throw new IllegalArgumentException("give --text FILE or --random-tokens, not both");
        if (MpiJob.current().isPresent()) {
            return EpBenchRanks.run(this, MpiJob.current().get(), out, err); // under mpirun
        }
        if (makeModel != null) {
            SkewedOlmoe.Shape full = SkewedOlmoe.Shape.OLMOE_1B_7B;
            SkewedOlmoe.Shape shape = new SkewedOlmoe.Shape(layers, full.hidden(), full.experts(), full.topK(), full.intermediate(), full.heads(), vocab);
            err.printf(Locale.ROOT, "writing an OLMoE-1B-7B-shaped model to %s: %s, router skew %s ...%n", makeModel, shape, skew);
            err.flush();
            SkewedOlmoe.write(makeModel, shape, skew, seed);
            model = makeModel;
            if (text == null) randomTokens = true;
        }
        List<Policy> list = new ArrayList<>();
        list.add(new Policy.None());
        for (String p : policies) {
            Policy policy = Policy.parse(p);
            if (!(policy instanceof Policy.None)) list.add(policy);
        }

        try (CausalLM lm = Models.load(model, null, quantize.format())) {
            ModelConfig config = lm.config();
            int e = config.numExperts();
            if (devices < 1 || devices > e) throw new IllegalArgumentException("--devices must be in 1.." + e + " for " + e + " experts (got " + devices + ")");
            Devices layout = placementFile == null ? Devices.contiguous(e, devices) : Devices.read(placementFile, e, devices);
            int cores = Runtime.getRuntime().availableProcessors();
            int threads = threadsPerDevice != null ? threadsPerDevice : EngineCores.defaultThreads(epMode, devices);
            if (threads < 1) throw new IllegalArgumentException("--threads-per-device must be >= 1");
            String data;
            int[] stream;
            int needed = (warmup + batches) * batch;
            if (randomTokens || text == null) {
                if (text == null && !randomTokens) {
                    throw new IllegalArgumentException("give --text FILE (e.g. ../shared/data/wikitext-2/test.txt) or --random-tokens");
                }
                SplittableRandom r = new SplittableRandom(seed);
                stream = new int[needed];
                for (int i = 0; i < needed; i++) stream[i] = r.nextInt(config.vocabSize());
                data = "uniform random token ids (seed " + seed + ")";
            } else {
                stream = tokenize(text, model, needed);
                data = text.toString();
            }
            CommModel comm = new CommModel(linkGbps, 2);
            List<EpStats> stats = new ArrayList<>();
            List<DeviceExpertExecutor> executors = new ArrayList<>();
            List<EpReplay.Recorder> recorders = new ArrayList<>();
            TraceWriter traceWriter = trace == null ? null : new TraceWriter(trace,
                    new RoutingTrace.Header(e, config.topK(), config.normTopkProb(), "none", model + " on " + data));
            String label = String.format(Locale.ROOT, "mode %s, D=%d devices x %d thread(s) (machine: %d cores), link %s Gbit/s, "
                    + "batch %d tokens (%d-token sequences), %d measured + %d warm-up batches, each MoE layer call timed %d times "
                    + "(+%d warm-up) interleaved over the policies, median repeat", epMode.id(), devices, threads, cores,
                    linkGbps == 0 ? "none" : fmt(linkGbps), batch, seqLen, batches, warmup, repeats, replayWarmup);
            if (epMode == EpMode.PARALLEL && devices * threads > cores) {
                err.println("note: parallel mode with " + devices + " x " + threads + " threads on " + cores
                        + " cores: devices share cores, so wall times include contention (use timed-serial)");
            }
            int tp = threads;
            IntFunction<CoreShare> coresOf =
                    d -> tp == cores && epMode == EpMode.TIMED_SERIAL ? CoreShare.unbound() : EngineCores.share(tp);
            List<EpReplay.Timings> timings;
            try {
                for (Policy p : list) {
                    EpStats s = new EpStats(layout);
                    stats.add(s);
                    DeviceExpertExecutor ex = new DeviceExpertExecutor(layout, epMode, comm, coresOf, s);
                    executors.add(ex);
                    recorders.add(new EpReplay.Recorder(ex));
                }
                err.println("ep-bench: " + model + ", " + label);
                long t0 = System.nanoTime();
                int total = warmup + batches;
                for (int b = 0; b < total; b++) {
                    int[][] seqs = sequences(stream, b * batch, batch, seqLen);
                    for (int i = 0; i < list.size(); i++) {
                        RoutingListener listener = i == 0 && traceWriter != null && b >= warmup ? traceWriter : RoutingListener.NONE;
                        stats.get(i).startBatch();
                        lm.forward(seqs, new RunOptions(list.get(i), layout.placement(), recorders.get(i), listener));
                    }
                    if (b == warmup - 1) {
                        stats.forEach(EpStats::clear);
                        recorders.forEach(EpReplay.Recorder::clear);
                    }
                    double el = (System.nanoTime() - t0) / 1e9;
                    double tokS = (double) (b + 1) * batch * list.size() / el;
                    double eta = el / (b + 1) * (total - b - 1);
                    err.printf(Locale.ROOT, "  batch %d/%d%s: %.0f tokens/s (all policies), ETA %.0f s%n", b + 1, total,
                            b < warmup ? " (warm-up)" : "", tokS, eta);
                    err.flush();
                }
                executors.forEach(DeviceExpertExecutor::close);
                executors.clear();
                long r0 = System.nanoTime();
                timings = EpReplay.time(recorders.stream().map(EpReplay.Recorder::calls).toList(), layout, epMode, comm, coresOf,
                        repeats, replayWarmup, (done, all) -> {
                            double el = (System.nanoTime() - r0) / 1e9;
                            err.printf(Locale.ROOT, "  replay: pass %d/%d (%d warm-up) over %d MoE layer calls x %d policies, ETA %.0f s%n",
                                    done, all, replayWarmup, recorders.getFirst().calls().size(), list.size(), el / done * (all - done));
                            err.flush();
                        });
                recorders.clear();
            } finally {
                executors.forEach(DeviceExpertExecutor::close);
                if (traceWriter != null) traceWriter.close();
            }

            // each record keeps its loads; its timing becomes the call's median repeat
            List<PolicyRun> runs = new ArrayList<>();
            List<PolicyRun> singlePass = new ArrayList<>();
            for (int i = 0; i < list.size(); i++) {
                List<LayerRecord> recs = stats.get(i).records();
                List<LayerTiming> med = timings.get(i).medians();
                if (recs.size() != med.size()) {
                    throw new IllegalStateException(list.get(i).label() + ": " + recs.size() + " layer records but " + med.size() + " replayed calls");
                }
                List<LayerRecord> replaced = new ArrayList<>(recs.size());
                for (int c = 0; c < recs.size(); c++) {
                    LayerRecord r = recs.get(c);
                    replaced.add(new LayerRecord(r.batch(), r.layer(), r.expertLoadBefore(), r.expertLoadAfter(), r.deviceLoadBefore(),
                            r.deviceLoadAfter(), med.get(c)));
                }
                runs.add(new PolicyRun(list.get(i).label(), replaced));
                singlePass.add(new PolicyRun(list.get(i).label(), recs));
            }
            EpStats.Summary none = runs.get(0).summary();
            out.println("Expert-parallel benchmark: " + model + " (" + config.modelType() + ", " + e + " experts, top-" + config.topK()
                    + ", " + config.numHiddenLayers() + " layers, hidden " + config.hiddenSize() + ")");
            out.println(label);
            out.println("data: " + data);
            out.println();
            List<EpReplay.Speedup> speedups = timings.stream().map(t -> EpReplay.Speedup.of(timings.get(0), t)).toList();
            out.printf(Locale.ROOT, "%-20s %6s %9s %9s %14s %8s %12s %7s %7s%n", "policy", "gamma", "dropped%", "max/mean",
                    "EP layer (ms)", "speedup", "range", "bound", "idle%");
            for (int i = 0; i < runs.size(); i++) {
                PolicyRun r = runs.get(i);
                EpStats.Summary s = r.summary();
                EpReplay.Speedup sp = speedups.get(i);
                double idlePct = s.criticalSeconds() == 0 ? 0 : 100 * s.idleSeconds() / (s.criticalSeconds() * devices);
                out.printf(Locale.ROOT, "%-20s %6s %9.2f %9.2f %14.3f %8.2f %12s %7.2f %7.1f%n", r.policy(), gammaOf(r.policy()),
                        100 * s.droppedFraction(), s.maxOverMeanAfter(), 1e3 * timings.get(i).epSeconds() / timings.get(i).calls(),
                        sp.median(), String.format(Locale.ROOT, "%.2f-%.2f", sp.min(), sp.max()), s.speedupBound(), idlePct);
            }
            out.println();
            out.printf(Locale.ROOT, "max/mean = device load max/mean after the policy (mean over layer calls); under none it is %.2f,%n",
                    none.maxOverMeanBefore());
            out.println("  the ideal speedup of perfect balancing. bound = sum of max device loads, none / policy.");
            out.printf(Locale.ROOT, "EP layer = critical path (%s) + all-to-all %s; comm is %.1f%% of none's EP time.%n",
                    epMode == EpMode.PARALLEL ? "measured wall time to the barrier" : "slowest device, each timed alone",
                    linkGbps == 0 ? "(off)" : "at " + fmt(linkGbps) + " Gbit/s per device, bf16",
                    none.epSeconds() == 0 ? 0 : 100 * none.commSeconds() / none.epSeconds());
            out.println("idle% = time devices wait for the straggler / (D x critical path).");
            out.printf(Locale.ROOT, "speedup = median over %d repeats of none's time / the policy's in the same repeat; range = lowest-highest.%n", repeats);
            if (epMode == EpMode.PARALLEL) {
                // proof that the devices overlapped: with D workers on separate cores, sum of device times >> wall time
                out.printf(Locale.ROOT, "devices ran concurrently: sum of device times / wall time = %.2f under none (1 = one after another, %d = all at once)%n",
                        timings.get(0).concurrency(), devices);
            }

            List<String> notes = List.of(label, "model: " + model + " (" + config.modelType() + ")", "data: " + data,
                    "speedup and range: per repeat, none's time / the policy's; per-layer times and device bars: each call's median repeat.");
            HtmlReport.write(html, "Expert-parallel straggler report (" + epMode.id() + ")", notes, runs, speedups);
            writeJson(runs, singlePass, timings, speedups, config, label, data, threads, cores, layout);
            out.println("wrote " + json + " and " + html + (trace != null ? " and trace " + trace : ""));
            out.flush();
        }
        return 0;
    }

    static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    static String gammaOf(String label) {
        int at = label.indexOf('@');
        if (at < 0 || label.startsWith("expert_drop")) return "-";
        int colon = label.indexOf(':', at);
        return label.substring(at + 1, colon < 0 ? label.length() : colon);
    }

    static int[] tokenize(Path file, Path modelDir, int needed) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("--text " + file + " is not a file");
        if (!Files.isRegularFile(modelDir.resolve("tokenizer.json"))) {
            throw new IllegalArgumentException(modelDir + " has no tokenizer.json to tokenize --text with (use --random-tokens)");
        }
        String all = Files.readString(file);
        try (HfTokenizer tok = HfTokenizer.load(modelDir)) {
            // tokenize a prefix big enough for what is needed (about 4 characters per token), growing if not
            for (int chars = Math.min(all.length(), needed * 6); ; chars = Math.min(all.length(), chars * 2)) {
                int[] ids = tok.encode(all.substring(0, chars));
                if (ids.length >= needed) return java.util.Arrays.copyOf(ids, needed);
                if (chars == all.length()) {
                    throw new IllegalArgumentException("--text " + file + " has only " + ids.length + " tokens; the run needs "
                            + needed + " ((warm-up + batches) x batch)");
                }
            }
        }
    }

    /** A batch of {@code tokens} tokens from the stream starting at {@code from}, cut into sequences of seqLen. */
    static int[][] sequences(int[] stream, int from, int tokens, int seqLen) {
        int n = (tokens + seqLen - 1) / seqLen;
        int[][] seqs = new int[n][];
        for (int i = 0; i < n; i++) {
            int start = from + i * seqLen;
            seqs[i] = java.util.Arrays.copyOfRange(stream, start, Math.min(from + tokens, start + seqLen));
        }
        return seqs;
    }

    private void writeJson(List<PolicyRun> runs, List<PolicyRun> singlePass, List<EpReplay.Timings> timings,
                           List<EpReplay.Speedup> speedups, ModelConfig config,
                           String label, String data, int threads, int cores, Devices layout) throws IOException {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("model", model.toString());
        root.put("modelType", config.modelType());
        root.put("mode", mode);
        root.put("label", label);
        root.put("devices", devices);
        root.put("threadsPerDevice", threads);
        root.put("machineCores", cores);
        root.put("linkGbps", linkGbps);
        root.put("batchTokens", batch);
        root.put("seqLen", seqLen);
        root.put("batches", batches);
        root.put("warmup", warmup);
        root.put("repeats", repeats);
        root.put("replayWarmup", replayWarmup);
        root.put("data", data);
        ArrayNode placement = root.putArray("placement");
        for (int e = 0; e < layout.experts(); e++) placement.add(layout.deviceOf(e));
        ArrayNode ps = root.putArray("policies");
        for (int i = 0; i < runs.size(); i++) {
            PolicyRun r = runs.get(i);
            EpStats.Summary s = r.summary();
            EpReplay.Speedup sp = speedups.get(i);
            ObjectNode p = ps.addObject();
            p.put("policy", r.policy());
            p.put("gamma", gammaOf(r.policy()));
            p.put("droppedFraction", s.droppedFraction());
            p.put("deviceMaxOverMeanBefore", s.maxOverMeanBefore());
            p.put("deviceMaxOverMeanAfter", s.maxOverMeanAfter());
            // the median repeat's sum; per-call detail below (and criticalPath/comm/idle here) = each call's median repeat
            p.put("epSecondsPerLayer", timings.get(i).epSeconds() / timings.get(i).calls());
            p.put("epSeconds", timings.get(i).epSeconds());
            p.put("criticalPathSeconds", s.criticalSeconds());
            p.put("commSeconds", s.commSeconds());
            p.put("idleSeconds", s.idleSeconds());
            p.put("deviceComputeSeconds", s.deviceSeconds());
            p.put("speedupVsNone", sp.median());
            p.put("speedupMin", sp.min());
            p.put("speedupMax", sp.max());
            ArrayNode perRepeat = p.putArray("epSecondsPerRepeat");
            for (int rep = 0; rep < timings.get(i).repeats(); rep++) perRepeat.add(timings.get(i).repeatSeconds(rep));
            p.put("concurrency", timings.get(i).concurrency());
            p.put("singlePassEpSeconds", singlePass.get(i).summary().epSeconds());
            p.put("bound", s.speedupBound());
            ArrayNode layersNode = p.putArray("layerCalls");
            for (LayerRecord rec : r.records()) {
                ObjectNode l = layersNode.addObject();
                l.put("batch", rec.batch());
                l.put("layer", rec.layer());
                ints(l.putArray("expertLoadBefore"), rec.expertLoadBefore());
                ints(l.putArray("expertLoadAfter"), rec.expertLoadAfter());
                ints(l.putArray("deviceLoadBefore"), rec.deviceLoadBefore());
                ints(l.putArray("deviceLoadAfter"), rec.deviceLoadAfter());
                ArrayNode dt = l.putArray("deviceSeconds");
                for (long v : rec.timing().deviceNanos()) dt.add(v / 1e9);
                l.put("criticalPathSeconds", rec.timing().criticalPathNanos() / 1e9);
                l.put("idleSeconds", rec.timing().idleNanos() / 1e9);
                l.put("commSeconds", rec.timing().commSeconds());
                l.put("dispatchBytes", rec.timing().dispatchBytes());
                l.put("straggler", rec.timing().straggler());
                l.put("droppedFraction", rec.droppedFraction());
            }
        }
        m.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), root);
    }

    private static void ints(ArrayNode a, int[] v) {
        for (int x : v) a.add(x);
    }
}
