package capmoe.runtime.ep;

import capmoe.weights.LoadOptions;
import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Routing;
import capmoe.runtime.RoutingListener;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceReader;
import capmoe.runtime.trace.TraceWriter;
import capmoe.tokenizer.HfTokenizer;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntFunction;

/**
 * The expert-parallel benchmark behind {@code ./capmoe ep-bench}: a model's MoE layers run over D
 * devices under every policy on the same batches, then every recorded MoE layer call is replayed
 * interleaved over the policies ({@link EpReplay}) for robust speedups. {@link #run} returns a
 * {@link Result}; {@link EpBenchJson} writes it as JSON, {@link EpReport} as a page, and
 * {@link Result#table()} is the console's table: all three read the same values.
 *
 * <p>Steps of {@link #run}:
 * <ol>
 *   <li>load the model, lay its experts out on the devices (contiguous, or a placement file);</li>
 *   <li>take (warm-up + batches) x --tokens tokens from the text (tokenized with the model's
 *       tokenizer.json) or uniform random ids;</li>
 *   <li>replicated policies ({@code replicate@N[+POLICY]}): EPLB places each MoE layer's replicas
 *       ({@link Replication}) from a routing trace ({@code replicateTrace}) or, without one, from
 *       the warm-up batches (the first measured batch when there are none) run under POLICY;</li>
 *   <li>for each batch, run the model once per policy through a {@link DeviceExpertExecutor} whose
 *       {@link EpStats} collects loads and a single-pass timing per MoE layer call, recording each
 *       call ({@link EpReplay.Recorder}): a KV-cached prefill of the batch's sequences, then
 *       {@code decodeSteps} greedy decode steps (one token per sequence each), recorded apart;
 *       the none run's prefill feeds the routing trace if one is asked for; warm-up batches are
 *       then forgotten;</li>
 *   <li>replay every recorded call {@code repeats} times under all policies back to back
 *       ({@link EpReplay#time}), prefill and decode calls separately, plus the {@link UniformRouting}
 *       row (none's prefill calls with perfectly spread pairs: the best case of balancing);
 *       speedup per repeat = none's time / the policy's;</li>
 *   <li>give each layer record its call's median-repeat timing and return one {@link PolicyResult}
 *       per policy.</li>
 * </ol>
 */
public final class EpBench {
    private EpBench() { }

    /**
     * What to run.
     *
     * @param policies         the policies, the baseline {@code none} first (see {@link Policy#withBaseline})
     * @param placementFile    a device id per expert, or null for contiguous blocks
     * @param threadsPerDevice cores per device, or null for {@link EngineCores#defaultThreads}
     * @param text             text to tokenize with the model's tokenizer.json, or null for uniform random ids
     * @param trace            where to record the none run's routing (for {@code simulate}), or null
     * @param decodeSteps      greedy decode steps after each batch's prefill, timed apart (0 = prefill only)
     * @param replicateTrace   a routing trace (recorded under none) to place replicated policies' replicas from,
     *                         or null to place them from the warm-up batches
     */
    public record Config(Path model, LoadOptions weights, List<Policy> policies, int devices, EpMode mode, Path placementFile,
                         Integer threadsPerDevice, double linkGbps, int tokens, int seqLen, int batches, int warmup,
                         int repeats, int replayWarmup, Path text, long seed, Path trace, int decodeSteps, Path replicateTrace) {
        /** Prefill only, replicas placed from the warm-up batches. */
        public Config(Path model, LoadOptions weights, List<Policy> policies, int devices, EpMode mode, Path placementFile,
                      Integer threadsPerDevice, double linkGbps, int tokens, int seqLen, int batches, int warmup,
                      int repeats, int replayWarmup, Path text, long seed, Path trace) {
            this(model, weights, policies, devices, mode, placementFile, threadsPerDevice, linkGbps, tokens, seqLen, batches, warmup,
                    repeats, replayWarmup, text, seed, trace, 0, null);
        }

        public Config {
            if (weights == null) weights = LoadOptions.DEFAULT;
            if (decodeSteps < 0) throw new IllegalArgumentException("--decode-steps must be >= 0 (got " + decodeSteps + ")");
            if (tokens < 1 || seqLen < 1 || batches < 1 || warmup < 0 || repeats < 1 || replayWarmup < 0) {
                throw new IllegalArgumentException("--tokens, --seq-len, --batches and --repeats must be >= 1, --warmup and --replay-warmup >= 0");
            }
            if (threadsPerDevice != null && threadsPerDevice < 1) throw new IllegalArgumentException("--threads-per-device must be >= 1");
            if (linkGbps < 0) throw new IllegalArgumentException("--link-gbps must be >= 0 (got " + linkGbps + ")");
            if (policies.isEmpty() || !(policies.getFirst() instanceof Policy.None)) {
                throw new IllegalArgumentException("the policies must start with the baseline none");
            }
            policies = List.copyOf(policies);
        }

        /** Tokens the run takes from the text: (warm-up + measured batches) x tokens. */
        public int tokensNeeded() { return (warmup + batches) * tokens; }
    }

    /**
     * One policy's outcome.
     *
     * @param run        layer records whose timing is each call's median repeat (loads are exact)
     * @param singlePass the same records with the first pass's own timing (not interleaved)
     * @param timings    every call's every repeat
     * @param speedup    none's time / this policy's, per repeat: median and range
     * @param decode     the decode steps' calls (records, timings, speedup), or null without decode steps
     * @param extraSlots replication: the most expert replicas a device holds beyond ceil(E/D), over the layers
     * @param extraBytes replication: the extra expert weight memory of that device (bf16 weights)
     */
    public record PolicyResult(String policy, PolicyRun run, PolicyRun singlePass, EpReplay.Timings timings,
                               EpReplay.Speedup speedup, Phase decode, int extraSlots, long extraBytes) {

        public PolicyResult(String policy, PolicyRun run, PolicyRun singlePass, EpReplay.Timings timings, EpReplay.Speedup speedup) {
            this(policy, run, singlePass, timings, speedup, null, 0, 0);
        }

        /** Decode speedup median, or NaN without decode steps. */
        public double decodeSpeedup() { return decode == null ? Double.NaN : decode.speedup().median(); }

        public EpStats.Summary summary() { return run.summary(); }

        /**
         * The EP time of one MoE layer call: the median repeat's EP time (critical paths + modelled
         * all-to-all of all calls) over the number of calls. The one definition of "EP layer" that
         * the console, the JSON and the HTML report show.
         */
        public double epSecondsPerLayer() { return timings.calls() == 0 ? 0 : timings.epSeconds() / timings.calls(); }

        /** Load bound on the speedup: sum of max device loads under none / under this policy. */
        public double bound() { return summary().speedupBound(); }

        /** Time the devices wait for the straggler, in % of D x the critical path (median repeats). */
        public double idlePercent(int devices) {
            EpStats.Summary s = summary();
            return s.criticalSeconds() == 0 ? 0 : 100 * s.idleSeconds() / (s.criticalSeconds() * devices);
        }

        /** Whether the measured speedup is above its load bound by more than 5% (noise, or a bug). */
        public boolean aboveBound() { return speedup.above(bound(), BOUND_TOLERANCE); }
    }

    /**
     * The decode steps of a policy: their layer records (median-repeat timing), timings and speedup.
     * Decode calls are small (one token per sequence), so their balance and speedup differ from prefill's.
     */
    public record Phase(PolicyRun run, EpReplay.Timings timings, EpReplay.Speedup speedup) {
        public double bound() { return run.summary().speedupBound(); }
    }

    /** Label of the timing-only row of perfectly spread pairs ({@link UniformRouting}). */
    public static final String UNIFORM = "uniform (ideal)";

    /** Measured speedups up to 5% above their bound are timing noise; above that they are flagged. */
    public static final double BOUND_TOLERANCE = 0.05;

    /**
     * The whole run.
     *
     * @param label   one line naming mode, devices, threads, link, batch and repeats (every output carries it)
     * @param data    where the tokens came from
     * @param threads cores per device
     * @param cores   the machine's cores
     */
    public record Result(Config config, ModelConfig model, String label, String data, int threads, int cores,
                         Devices layout, List<PolicyResult> policies) {

        public PolicyResult baseline() { return policies.getFirst(); }

        public List<PolicyRun> runs() { return policies.stream().map(PolicyResult::run).toList(); }

        public List<EpReplay.Speedup> speedups() { return policies.stream().map(PolicyResult::speedup).toList(); }

        /** The console's table and notes (the same values as the JSON and the HTML report). */
        public String table() {
            StringBuilder sb = new StringBuilder();
            boolean decode = config.decodeSteps() > 0;
            boolean replicas = policies.stream().anyMatch(p -> p.extraSlots() > 0);
            sb.append(f("%-24s %6s %9s %7s %9s %14s %8s %12s %7s %7s%s%s%n", "policy", "gamma", "dropped%", "added%", "max/mean",
                    "EP layer (ms)", "speedup", "range", "bound", "idle%", decode ? "  decode: speedup   bound" : "",
                    replicas ? "  extra/device" : ""));
            boolean flagged = false;
            for (PolicyResult p : policies) {
                EpStats.Summary s = p.summary();
                flagged |= p.aboveBound();
                String dec = !decode ? "" : p.decode() == null ? f("  %16s %7s", "-", "-")
                        : f("  %16.2f %7.2f", p.decodeSpeedup(), p.decode().bound());
                String extra = !replicas ? "" : p.extraSlots() == 0 ? f("  %12s", "-")
                        : f("  %3d (%5.1f MB)", p.extraSlots(), p.extraBytes() / 1e6);
                sb.append(f("%-24s %6s %9.2f %7.2f %9.2f %14.3f %8.2f %12s %7.2f %7.1f%s%s%s%n", p.policy(), gammaOf(p.policy()),
                        100 * s.droppedFraction(), 100 * s.addedFraction(), s.maxOverMeanAfter(), 1e3 * p.epSecondsPerLayer(), p.speedup().median(),
                        f("%.2f-%.2f", p.speedup().min(), p.speedup().max()), p.bound(), p.idlePercent(config.devices()),
                        dec, extra, p.aboveBound() ? " !" : ""));
            }
            EpStats.Summary none = baseline().summary();
            sb.append('\n');
            sb.append("dropped% = top-k (token, expert) pairs the policy removed; added% = pairs it kept outside the top-k\n");
            sb.append("  (Expanded Drop's local experts); both per 100 top-k pairs.\n");
            sb.append(f("max/mean = device load max/mean after the policy (mean over layer calls); under none it is %.2f,%n",
                    none.maxOverMeanBefore()));
            sb.append("  the ideal speedup of perfect balancing. bound = sum of max device loads, none / policy.\n");
            sb.append(f("EP layer = critical path (%s) + all-to-all %s, median repeat / calls; comm is %.1f%% of none's EP time.%n",
                    config.mode() == EpMode.PARALLEL ? "measured wall time to the barrier" : "slowest device, each timed alone",
                    config.linkGbps() == 0 ? "(off)" : "at " + fmt(config.linkGbps()) + " Gbit/s per device, bf16",
                    none.epSeconds() == 0 ? 0 : 100 * none.commSeconds() / none.epSeconds()));
            sb.append("idle% = time devices wait for the straggler / (D x critical path).\n");
            sb.append(UNIFORM + " = none's calls with the same tokens and top-k spread perfectly over the experts (timing only): "
                    + "the best any balancing can do.\n");
            if (decode) {
                sb.append(f("prefill = the columns before 'decode': each batch's sequences in one KV-cached pass; decode = %d greedy steps "
                        + "after it (one token per sequence per MoE call), timed apart the same way.%n", config.decodeSteps()));
            }
            if (replicas) {
                sb.append("replicate@N: EPLB places N redundant replicas per layer (" + (config.replicateTrace() != null
                        ? "from the trace " + config.replicateTrace() : "from the warm-up batches (the first batch without warm-up)")
                        + ", under the inner policy); a replicated expert's token t runs on replica t mod r; extra/device = the most replicas a "
                        + "device holds beyond ceil(E/D), bf16 weights.\n");
            }
            sb.append(f("speedup = median over %d repeats of none's time / the policy's in the same repeat; range = lowest-highest.%n",
                    config.repeats()));
            if (flagged) {
                sb.append(f("! = measured speedup more than %.0f%% above its load bound: timing noise (rerun with more --repeats)%n",
                        100 * BOUND_TOLERANCE));
            }
            if (config.mode() == EpMode.PARALLEL) {
                // proof that the devices overlapped: with D workers on separate cores, sum of device times >> wall time
                sb.append(f("devices ran concurrently: sum of device times / wall time = %.2f under none (1 = one after another, %d = all at once)%n",
                        baseline().timings().concurrency(), config.devices()));
            }
            return sb.toString();
        }

        /** The report's notes: the run's label, model, data and how speedups are computed. */
        public List<String> notes() {
            return List.of(label, "model: " + config.model() + " (" + model.modelType() + ")", "data: " + data,
                    "speedup and range: per repeat, none's time / the policy's; EP layer: the median repeat's time / calls; "
                            + "per-layer times and device bars: each call's median repeat.");
        }
    }

    /** The γ of a policy label ("-" for none and expert_drop, whose number is ρ). */
    public static String gammaOf(String label) {
        if (label.startsWith("replicate@")) {
            int plus = label.indexOf('+');
            return plus < 0 ? "-" : gammaOf(label.substring(plus + 1));
        }
        int at = label.indexOf('@');
        if (at < 0 || label.startsWith("expert_drop")) return "-";
        int colon = label.indexOf(':', at);
        return label.substring(at + 1, colon < 0 ? label.length() : colon);
    }

    /**
     * Runs the benchmark; progress (tokens/s, ETA) goes to {@code log} (null = quiet).
     *
     * @throws IllegalArgumentException for input the user can fix (devices, files, too short a text)
     */
    public static Result run(Config c, PrintWriter log) throws IOException {
        try (CausalLM lm = Models.load(c.model(), null, c.weights())) {
            ModelConfig config = lm.config();
            int e = config.numExperts();
            if (c.devices() < 1 || c.devices() > e) {
                throw new IllegalArgumentException("--devices must be in 1.." + e + " for " + e + " experts (got " + c.devices() + ")");
            }
            Devices layout = c.placementFile() == null ? Devices.contiguous(e, c.devices()) : Devices.read(c.placementFile(), e, c.devices());
            int cores = Runtime.getRuntime().availableProcessors();
            int threads = c.threadsPerDevice() != null ? c.threadsPerDevice() : EngineCores.defaultThreads(c.mode(), c.devices());
            String data;
            int[] stream;
            if (c.text() == null) {
                SplittableRandom r = new SplittableRandom(c.seed());
                stream = new int[c.tokensNeeded()];
                for (int i = 0; i < stream.length; i++) stream[i] = r.nextInt(config.vocabSize());
                data = "uniform random token ids (seed " + c.seed() + ")";
            } else {
                stream = tokenize(c.text(), c.model(), c.tokensNeeded());
                data = c.text().toString();
            }
            String label = f("mode %s, D=%d devices x %d thread(s) (machine: %d cores), link %s Gbit/s, "
                    + "batch %d tokens (%d-token sequences), %d measured + %d warm-up batches, each MoE layer call timed %d times "
                    + "(+%d warm-up) interleaved over the policies, median repeat", c.mode().id(), c.devices(), threads, cores,
                    c.linkGbps() == 0 ? "none" : fmt(c.linkGbps()), c.tokens(), c.seqLen(), c.batches(), c.warmup(), c.repeats(),
                    c.replayWarmup());
            if (log != null && c.mode() == EpMode.PARALLEL && c.devices() * threads > cores) {
                log.println("note: parallel mode with " + c.devices() + " x " + threads + " threads on " + cores
                        + " cores: devices share cores, so wall times include contention (use timed-serial)");
            }
            CommModel comm = new CommModel(c.linkGbps(), 2);
            IntFunction<CoreShare> coresOf =
                    d -> threads == cores && c.mode() == EpMode.TIMED_SERIAL ? CoreShare.unbound() : EngineCores.share(threads);
            List<Policy> list = c.policies();
            int total = c.warmup() + c.batches();
            // replicated policies: one EPLB placement per MoE layer, from a trace or the calibration batches
            List<Map<Integer, Placement>> placements = new ArrayList<>();
            RoutingTrace replicateFrom = c.replicateTrace() == null ? null : TraceReader.read(c.replicateTrace());
            List<int[][]> calibration = new ArrayList<>();
            for (int b = 0; b < Math.max(c.warmup(), 1); b++) calibration.add(sequences(stream, b * c.tokens(), c.tokens(), c.seqLen()));
            for (Policy p : list) {
                if (p.redundantReplicas() == 0) {
                    placements.add(Map.of());
                } else {
                    if (log != null) log.println("  placing " + p.redundantReplicas() + " replicas per layer for " + p.label() + " (EPLB)");
                    placements.add(replicateFrom != null ? Replication.fromTrace(replicateFrom, p, layout.placement())
                            : Replication.place(lm, p, layout.placement(), calibration));
                }
            }
            List<EpStats> stats = new ArrayList<>(), decodeStats = new ArrayList<>();
            List<DeviceExpertExecutor> executors = new ArrayList<>();
            List<EpReplay.Recorder> recorders = new ArrayList<>(), decoders = new ArrayList<>();
            List<EpReplay.Timings> timings, decodeTimings = null;
            TraceWriter traceWriter = c.trace() == null ? null : new TraceWriter(c.trace(),
                    new RoutingTrace.Header(e, config.topK(), config.normTopkProb(), "none", c.model() + " on " + data));
            boolean complete = false;
            try {
                for (int i = 0; i < list.size(); i++) {
                    EpStats s = new EpStats(layout), ds = new EpStats(layout);
                    stats.add(s);
                    decodeStats.add(ds);
                    DeviceExpertExecutor ex = new DeviceExpertExecutor(layout, c.mode(), comm, coresOf, s, placements.get(i));
                    DeviceExpertExecutor dx = new DeviceExpertExecutor(layout, c.mode(), comm, coresOf, ds, placements.get(i));
                    executors.add(ex);
                    executors.add(dx);
                    recorders.add(new EpReplay.Recorder(ex));
                    decoders.add(new EpReplay.Recorder(dx));
                }
                if (log != null) log.println("ep-bench: " + c.model() + ", " + label);
                long t0 = System.nanoTime();
                for (int b = 0; b < total; b++) {
                    int[][] seqs = sequences(stream, b * c.tokens(), c.tokens(), c.seqLen());
                    for (int i = 0; i < list.size(); i++) {
                        RoutingListener listener = i == 0 && traceWriter != null && b >= c.warmup() ? traceWriter : RoutingListener.NONE;
                        stats.get(i).startBatch();
                        decodeStats.get(i).startBatch();
                        RunOptions prefill = new RunOptions(list.get(i), layout.placement(), recorders.get(i), listener)
                                .withLayerPlacements(placements.get(i));
                        if (c.decodeSteps() == 0) {
                            lm.forward(seqs, prefill);
                        } else {
                            Session session = lm.newSession(seqs.length, prefill);
                            float[][] last = session.appendLast(seqs);
                            Session decode = session.withOptions(prefill.withExecutor(decoders.get(i)).withListener(RoutingListener.NONE));
                            for (int step = 0; step < c.decodeSteps(); step++) last = decode.appendLast(greedy(last));
                        }
                    }
                    if (b == c.warmup() - 1) {
                        stats.forEach(EpStats::clear);
                        decodeStats.forEach(EpStats::clear);
                        recorders.forEach(EpReplay.Recorder::clear);
                        decoders.forEach(EpReplay.Recorder::clear);
                    }
                    if (log != null) {
                        double el = (System.nanoTime() - t0) / 1e9;
                        log.printf(Locale.ROOT, "  batch %d/%d%s: %.0f tokens/s (all policies), ETA %.0f s%n", b + 1, total,
                                b < c.warmup() ? " (warm-up)" : "", (double) (b + 1) * c.tokens() * list.size() / el,
                                el / (b + 1) * (total - b - 1));
                        log.flush();
                    }
                }
                executors.forEach(DeviceExpertExecutor::close);
                executors.clear();
                // the uniform row: none's prefill calls, the same rows, pairs spread perfectly over the experts
                List<List<EpReplay.Call>> perPolicy = new ArrayList<>(recorders.stream().map(EpReplay.Recorder::calls).toList());
                List<EpReplay.Call> uniform = new ArrayList<>();
                for (EpReplay.Call call : perPolicy.getFirst()) {
                    uniform.add(new EpReplay.Call(call.layer(), call.experts(), call.x(),
                            UniformRouting.of(call.routing().tokens(), call.experts().count(), config.topK()), layout.placement()));
                }
                perPolicy.add(uniform);
                long r0 = System.nanoTime();
                int calls = perPolicy.getFirst().size();
                timings = EpReplay.time(perPolicy, layout, c.mode(), comm, coresOf, c.repeats(), c.replayWarmup(), (done, all) -> {
                    if (log == null) return;
                    double el = (System.nanoTime() - r0) / 1e9;
                    log.printf(Locale.ROOT, "  replay: pass %d/%d (%d warm-up) over %d MoE layer calls x %d policies, ETA %.0f s%n",
                            done, all, c.replayWarmup(), calls, perPolicy.size(), el / done * (all - done));
                    log.flush();
                });
                if (c.decodeSteps() > 0) {
                    long d0 = System.nanoTime();
                    int dcalls = decoders.getFirst().calls().size();
                    decodeTimings = EpReplay.time(decoders.stream().map(EpReplay.Recorder::calls).toList(), layout, c.mode(), comm, coresOf,
                            c.repeats(), c.replayWarmup(), (done, all) -> {
                                if (log == null) return;
                                double el = (System.nanoTime() - d0) / 1e9;
                                log.printf(Locale.ROOT, "  replay (decode): pass %d/%d over %d MoE layer calls x %d policies, ETA %.0f s%n",
                                        done, all, dcalls, list.size(), el / done * (all - done));
                                log.flush();
                            });
                }
                recorders.clear();
                decoders.clear();
                complete = true;
            } finally {
                executors.forEach(DeviceExpertExecutor::close);
                if (traceWriter != null) {
                    if (complete) traceWriter.close();
                    else traceWriter.abort();
                }
            }

            List<EpReplay.Speedup> speedups = EpReplay.Speedup.overFirst(timings);
            List<EpReplay.Speedup> decodeSpeedups = decodeTimings == null ? null : EpReplay.Speedup.overFirst(decodeTimings);
            long expertBytes = Replication.expertBytes(config, 2);
            List<PolicyResult> results = new ArrayList<>();
            for (int i = 0; i < list.size(); i++) {
                String name = list.get(i).label();
                List<LayerRecord> recs = stats.get(i).records();
                List<LayerRecord> replaced = withMedians(name, recs, timings.get(i));
                Phase decode = null;
                if (decodeTimings != null) {
                    decode = new Phase(new PolicyRun(name, withMedians(name + " (decode)", decodeStats.get(i).records(), decodeTimings.get(i))),
                            decodeTimings.get(i), decodeSpeedups.get(i));
                }
                int extra = Replication.extraSlotsPerDevice(placements.get(i));
                results.add(new PolicyResult(name, new PolicyRun(name, replaced), new PolicyRun(name, recs), timings.get(i), speedups.get(i),
                        decode, extra, extra * expertBytes));
            }
            // the uniform row's loads: its routing over the home placement, each call's median repeat
            EpReplay.Timings ut = timings.getLast();
            List<LayerRecord> urecs = new ArrayList<>();
            List<LayerRecord> none = stats.getFirst().records();
            for (int k = 0; k < none.size(); k++) {
                int[] load = new int[e];
                Routing u = UniformRouting.of(none.get(k).timing().tokens(), e, config.topK());
                for (int id : u.expertIds()) load[id]++;
                int[] dev = new int[layout.count()];
                for (int x = 0; x < e; x++) dev[layout.deviceOf(x)] += load[x];
                urecs.add(new LayerRecord(none.get(k).batch(), none.get(k).layer(), none.get(k).expertLoadBefore(), load,
                        none.get(k).deviceLoadBefore(), dev, ut.median(k)));
            }
            results.add(new PolicyResult(UNIFORM, new PolicyRun(UNIFORM, urecs), new PolicyRun(UNIFORM, urecs), ut, speedups.getLast(),
                    null, 0, 0));
            return new Result(c, config, label, data, threads, cores, layout, List.copyOf(results));
        }
    }

    /** Each record with its call's median-repeat timing (loads stay exact). */
    private static List<LayerRecord> withMedians(String name, List<LayerRecord> recs, EpReplay.Timings t) {
        List<LayerTiming> med = t.medians();
        if (recs.size() != med.size()) throw new IllegalStateException(name + ": " + recs.size() + " layer records but " + med.size() + " replayed calls");
        List<LayerRecord> out = new ArrayList<>(recs.size());
        for (int k = 0; k < recs.size(); k++) out.add(recs.get(k).withTiming(med.get(k)));
        return out;
    }

    /** The most likely next token of each sequence (argmax of its last logits; ties: the lower id). */
    public static int[][] greedy(float[][] lastLogits) {
        int[][] next = new int[lastLogits.length][1];
        for (int b = 0; b < lastLogits.length; b++) {
            float[] l = lastLogits[b];
            int best = 0;
            for (int v = 1; v < l.length; v++) if (l[v] > l[best]) best = v;
            next[b][0] = best;
        }
        return next;
    }

    /** The first {@code needed} tokens of a text file, tokenized with the model's tokenizer.json. */
    public static int[] tokenize(Path file, Path modelDir, int needed) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("--text " + file + " is not a file");
        if (!Files.isRegularFile(modelDir.resolve("tokenizer.json"))) {
            throw new IllegalArgumentException(modelDir + " has no tokenizer.json to tokenize --text with (use --random-tokens)");
        }
        String all = Files.readString(file);
        try (HfTokenizer tok = HfTokenizer.load(modelDir)) {
            // tokenize a prefix big enough for what is needed (about 4 characters per token), growing if not
            for (int chars = Math.min(all.length(), needed * 6); ; chars = Math.min(all.length(), chars * 2)) {
                int[] ids = tok.encode(all.substring(0, chars));
                if (ids.length >= needed) return Arrays.copyOf(ids, needed);
                if (chars == all.length()) {
                    throw new IllegalArgumentException("--text " + file + " has only " + ids.length + " tokens; the run needs "
                            + needed + " ((warm-up + batches) x --tokens)");
                }
            }
        }
    }

    /** A batch of {@code tokens} tokens from the stream starting at {@code from}, cut into sequences of seqLen. */
    public static int[][] sequences(int[] stream, int from, int tokens, int seqLen) {
        int n = (tokens + seqLen - 1) / seqLen;
        int[][] seqs = new int[n][];
        for (int i = 0; i < n; i++) {
            int start = from + i * seqLen;
            seqs[i] = Arrays.copyOfRange(stream, start, Math.min(from + tokens, start + seqLen));
        }
        return seqs;
    }

    static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    private static String f(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
