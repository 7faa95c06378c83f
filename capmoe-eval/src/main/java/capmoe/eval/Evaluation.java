package capmoe.eval;

import capmoe.weights.LoadOptions;
import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.RoutingListener;
import capmoe.runtime.dist.CapacityScope;
import capmoe.runtime.dist.Communicator;
import capmoe.runtime.dist.DataParallelLM;
import capmoe.runtime.dist.Wire;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpMode;
import capmoe.tokenizer.HfTokenizer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The runtime behind {@code ./capmoe eval} and {@code ./capmoe demo}: a model's quality under every
 * policy on some tasks, with its routing load and, optionally, its measured EP speedup.
 *
 * <p>Steps of {@link #run}:
 * <ol>
 *   <li>read config.json; check the devices against the experts; place experts contiguously;
 *       replicated policies get one EPLB placement per MoE layer ({@link Replicas}: from a trace,
 *       or from none's routing of this evaluation, none running first);</li>
 *   <li>load the tokenizer and the model (in {@code dtype} when given); as one rank of an MPI job
 *       ({@link Ranks}), wrap it in {@link DataParallelLM}: each forward pass's batch is split over
 *       the ranks, experts run on their owning rank, every rank gets the whole batch's logits;</li>
 *   <li>run the {@link Evaluator}: every task under every policy (the baseline {@code none} first),
 *       each MoE layer call recorded and, with {@link Ep} settings, replayed interleaved through the
 *       expert-parallel runtime ({@link EpRuntime.InJvm}) or, as one rank of an MPI job, over the
 *       ranks ({@link EpRuntime.OverRanks}: the same replay, every all-to-all and wait measured);
 *       windowed tasks add {@code decodeSteps} greedy steps per batch, recorded and timed apart
 *       (decode beside prefill);</li>
 *   <li>return a {@link Result}: the {@link EvalResults} and the run's settings; {@link Result#write}
 *       puts results.json, results_&lt;policy&gt;.json, results.md and report.html beside them
 *       ({@link ReportFiles}).</li>
 * </ol>
 */
public final class Evaluation {
    private Evaluation() { }

    /**
     * Measure EP speedups: the in-JVM devices' mode and modelled link (both unused as one rank of an
     * MPI job, where the ranks are the devices: mode null there), the interleaved repeats (median)
     * and warm-up replays, and the greedy decode steps after each batch of windows, recorded and
     * timed apart from the windows' pass (0 = none).
     */
    public record Ep(EpMode mode, double linkGbps, int repeats, int warmup, int decodeSteps) {

        public Ep {
            if (decodeSteps < 0) throw new IllegalArgumentException("--decode-steps must be >= 0 (got " + decodeSteps + ")");
        }

        /** Without decode steps. */
        public Ep(EpMode mode, double linkGbps, int repeats, int warmup) {
            this(mode, linkGbps, repeats, warmup, 0);
        }

        /** Over the ranks of an MPI job: every time measured, nothing modelled. */
        public static Ep overRanks(int repeats, int warmup) { return new Ep(null, 0, repeats, warmup); }

        /** This with {@code steps} greedy decode steps after each batch of windows, timed apart. */
        public Ep withDecodeSteps(int steps) { return new Ep(mode, linkGbps, repeats, warmup, steps); }
    }

    /**
     * What to evaluate.
     *
     * @param dtype         torch dtype to run in ("float32", "bfloat16"), or null for config.json's
     * @param weights       how the weight matrices are loaded ({@code --quantize}, {@code --dot}); null: {@link LoadOptions#DEFAULT}
     * @param policies      the baseline {@code none} first ({@link Policy#withBaseline})
     * @param maxLength     context for loglikelihood requests, 0 = max_position_embeddings
     * @param prefixToken   token that starts rolling windows and empty contexts, -1 = BOS, else EOS
     * @param sharedContext score a context's choices from its KV cache (see {@link Evaluator.Config})
     * @param ep            measure EP speedups, or null
     * @param replicateTrace replicated policies ({@code replicate@N[+POLICY]}): place their replicas from this
     *                      routing trace (recorded under none), or null to place them from none's routing of
     *                      this evaluation ({@link Replicas})
     */
    public record Config(Path model, String dtype, LoadOptions weights, List<Task> tasks, List<Policy> policies, int devices, int batch,
                         int maxLength, int prefixToken, boolean sharedContext, Ep ep, Path replicateTrace) {
        /** Replicas (if any) placed from none's routing of the evaluation. */
        public Config(Path model, String dtype, LoadOptions weights, List<Task> tasks, List<Policy> policies, int devices, int batch,
                      int maxLength, int prefixToken, boolean sharedContext, Ep ep) {
            this(model, dtype, weights, tasks, policies, devices, batch, maxLength, prefixToken, sharedContext, ep, null);
        }

        public Config {
            if (policies.isEmpty() || !(policies.getFirst() instanceof Policy.None)) {
                throw new IllegalArgumentException("the policies must start with the baseline none");
            }
            tasks = List.copyOf(tasks);
            policies = List.copyOf(policies);
        }
    }

    /**
     * This process as one rank of an MPI job: the job's communicator, which tokens capacity
     * counts ({@link CapacityScope}) and how hidden rows travel ({@link Wire}). Expert placement is then D = ranks contiguous blocks.
     */
    public record Ranks(Communicator comm, CapacityScope scope, Wire wire) {

        /** Rows travel as fp32: bit-identical to one process. */
        public Ranks(Communicator comm, CapacityScope scope) { this(comm, scope, Wire.FP32); }
    }

    /** An evaluation's outcome and the settings every output names. */
    public record Result(Config config, ModelConfig model, EvalResults results) {

        /** What results.json's config block records about the run. */
        public Map<String, Object> meta() {
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("model", config.model().toString());
            meta.put("devices", config.devices());
            meta.put("dtype", config.dtype() == null ? model.dtype() : config.dtype());
            if (config.weights().quantize() != null) meta.put("quantize", config.weights().quantize().toString());
            if (config.weights().dot() != capmoe.kernels.DotMode.EXACT) meta.put("dot", config.weights().dot().toString());
            if (config.ep() != null) {
                // over MPI ranks the devices are the ranks, every time measured (the command adds "ranks")
                meta.put("ep_mode", config.ep().mode() == null ? "mpi" : config.ep().mode().id());
                if (config.ep().mode() != null) meta.put("link_gbps", config.ep().linkGbps());
                meta.put("ep_repeats", config.ep().repeats());
                meta.put("decode_steps", config.ep().decodeSteps());
            }
            if (!results.extraMemory().isEmpty()) {
                meta.put("replicas_placed_from", config.replicateTrace() != null ? config.replicateTrace().toString()
                        : "none's routing of this evaluation (in-sample)");
            }
            return meta;
        }

        /** Writes the reports into {@code out}; {@code extra} adds command-specific settings to the meta. */
        public void write(Path out, String title, Map<String, Object> extra) throws IOException {
            Map<String, Object> meta = meta();
            meta.putAll(extra);
            ReportFiles.write(results, meta, out, title);
        }
    }

    public static Result run(Config c, PrintStream progress) {
        return run(c, progress, null);
    }

    /** As {@link #run(Config, PrintStream)}, as one rank of an MPI job when {@code ranks} is not null (collective). */
    public static Result run(Config c, PrintStream progress, Ranks ranks) {
        if (c.ep() != null && (ranks == null) != (c.ep().mode() != null)) {
            throw new IllegalArgumentException(ranks == null ? "EP timing over MPI ranks (Ep.overRanks) needs a run under mpirun"
                    : "under mpirun the ranks are the devices and every time is measured: the in-JVM EP mode "
                    + c.ep().mode().id() + " does not apply (Ep.overRanks)");
        }
        if (ranks != null && c.policies().stream().anyMatch(p -> p.redundantReplicas() > 0)) {
            throw new IllegalArgumentException("replicate@N runs over in-JVM devices; under mpirun each expert lives on one rank "
                    + "(run it without mpirun)");
        }
        if (ranks != null && c.devices() != ranks.comm().size()) {
            throw new IllegalArgumentException("under mpirun the devices are the " + ranks.comm().size() + " ranks, but the "
                    + "evaluation was configured for " + c.devices());
        }
        if (ranks != null && c.sharedContext() && !c.tasks().stream().allMatch(t -> t instanceof Task.TokenWindows)) {
            throw new IllegalArgumentException("under mpirun, score with --no-shared-context: a context's KV cache lives on the rank "
                    + "that owns its sequence, so it cannot be forked into rows of other ranks");
        }
        ModelConfig config = ModelConfig.read(c.model());
        int experts = config.numExperts();
        if (c.devices() < 1 || c.devices() > experts) {
            throw new IllegalArgumentException("--devices must be in 1.." + experts + " for " + experts + " experts (got " + c.devices() + ")");
        }
        int context = c.maxLength() > 0 ? c.maxLength() : config.maxPositionEmbeddings();
        int prefix = c.prefixToken() >= 0 ? c.prefixToken() : defaultPrefix(config);
        if (prefix >= config.vocabSize()) {
            throw new IllegalArgumentException("--prefix-token " + prefix + " is outside the vocabulary (" + config.vocabSize() + ")");
        }
        int decodeSteps = c.ep() == null ? 0 : c.ep().decodeSteps();
        for (Task t : c.tasks()) {
            if (t instanceof Task.TokenWindows w && w.seq() + decodeSteps > config.maxPositionEmbeddings()) {
                throw new IllegalArgumentException(t.name() + ": --seq " + w.seq() + " + --decode-steps " + decodeSteps
                        + " is longer than the model's context (max_position_embeddings " + config.maxPositionEmbeddings() + ")");
            }
        }
        Placement placement = Placement.contiguous(experts, c.devices());
        Replicas replicas = new Replicas(c.policies(), c.replicateTrace(), placement, config);
        Evaluator.Config evalConfig = new Evaluator.Config(context, c.batch(), prefix, c.devices(), c.sharedContext(), decodeSteps);
        // inside the try: recorded MoE layer calls point at the model's mapped weights until they are replayed
        try (HfTokenizer tokenizer = HfTokenizer.load(c.model()); CausalLM loaded = ModelLoader.load(c.model(), c.dtype(), c.weights())) {
            CausalLM lm = loaded;
            BiFunction<Policy, RoutingListener, RunOptions> options = (policy, listener) -> RunOptions.of(policy)
                    .withPlacement(placement).withListener(replicas.listener(policy, listener)).withLayerPlacements(replicas.of(policy));
            EpRuntime ep = null;
            if (ranks == null && c.ep() != null) {
                ep = new EpRuntime.InJvm(Devices.contiguous(experts, c.devices()), c.ep().mode(), new CommModel(c.ep().linkGbps(), 2),
                        EngineCores.defaultThreads(c.ep().mode(), c.devices()), c.ep().repeats(), c.ep().warmup());
            } else if (ranks != null) {
                DataParallelLM dp = new DataParallelLM(loaded, ranks.comm(), ranks.scope(), ranks.wire(), null);
                lm = dp;
                // the rank's own executor, so that a recorder around it records what the ranks ran (DataParallelLM.rankOptions)
                options = (policy, listener) -> RunOptions.of(policy).withPlacement(placement).withListener(listener).withExecutor(dp.moe());
                if (c.ep() != null) ep = new EpRuntime.OverRanks(ranks.comm(), dp.moe().placement(), ranks.wire(), c.ep().repeats(), c.ep().warmup());
            }
            Evaluator evaluator = new Evaluator(lm, tokenizer, evalConfig, options, progress, ep);
            return new Result(c, config, evaluator.run(c.tasks(), c.policies()).withExtraMemory(replicas.extraMemory()));
        }
    }

    /** lm-eval's prefix token: BOS when the model has one, else EOS. */
    public static int defaultPrefix(ModelConfig c) {
        if (c.bosTokenId() >= 0 && c.bosTokenId() < c.vocabSize()) return c.bosTokenId();
        for (int eos : c.eosTokenIds()) if (eos >= 0 && eos < c.vocabSize()) return eos;
        throw new IllegalArgumentException("config.json has no bos_token_id or eos_token_id inside the vocabulary; "
                + "pass --prefix-token");
    }
}
