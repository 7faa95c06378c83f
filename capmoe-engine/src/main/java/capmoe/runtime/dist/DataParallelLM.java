package capmoe.runtime.dist;

import capmoe.model.CausalLM;
import capmoe.model.Decoder;
import capmoe.model.Generator;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.runtime.ep.EpReplay;
import capmoe.weights.Tensor;

import java.util.Arrays;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A model run as one rank of D (data-parallel attention + expert-parallel MoE), usable wherever
 * a {@link CausalLM} is: every rank makes the same calls with the same global batch; each runs
 * embedding, attention, the router and the LM head for its own sequences ({@link SequenceSplit}:
 * contiguous blocks) in its own {@link Session} of the wrapped model, and per MoE layer joins the
 * others through {@link DistributedMoe} (experts placed contiguously, {@code Placement.contiguous(E, D)}:
 * rank r owns experts floor(r*E/D) .. floor((r+1)*E/D)-1). Logits are then gathered, so every
 * rank returns those of the whole batch, as one process would.
 *
 * <p>Of the {@link RunOptions} a caller passes, the policy and the listener are used; placement,
 * executor and Router stage are the distributed ones. Every method is collective (all ranks,
 * same order, same arguments). Results equal one process running {@link #referenceOptions} bit
 * for bit: under global scope that is the plain single-process run with each token's origin
 * device being its rank (only expanded_origin looks at origins).
 *
 * <p>Memory: every rank holds the whole batch's logits [tokens x vocab] after a call, as one
 * process does.
 */
public final class DataParallelLM implements CausalLM {
    private static final Pattern EXPERT = Pattern.compile("(?:^|\\.)experts\\.(\\d+)\\.");

    private final CausalLM model;
    private final Communicator comm;
    private final DistributedMoe moe;

    /**
     * @param model    this rank's model (the whole checkpoint mapped; only its own experts are read)
     * @param observer receives this rank's timing of every MoE layer call (may be null)
     */
    public DataParallelLM(CausalLM model, Communicator comm, CapacityScope scope, Consumer<MoeTiming> observer) {
        this(model, comm, scope, Wire.FP32, observer);
    }

    /**
     * @param model    this rank's model (the whole checkpoint mapped; only its own experts are read)
     * @param wire     how hidden rows travel in the MoE all-to-alls
     * @param observer receives this rank's timing of every MoE layer call (may be null)
     */
    public DataParallelLM(CausalLM model, Communicator comm, CapacityScope scope, Wire wire, Consumer<MoeTiming> observer) {
        int experts = model.config().numExperts();
        if (experts < comm.size()) {
            throw new IllegalArgumentException("the model has " + experts + " experts per MoE layer, fewer than the job's "
                    + comm.size() + " ranks (each rank must own at least one)");
        }
        this.model = model;
        this.comm = comm;
        this.moe = new DistributedMoe(comm, Placement.contiguous(experts, comm.size()), scope, wire, observer);
    }

    /**
     * What one process runs to get the same bits: the same policy and placement (devices =
     * ranks), {@link SplitRouter} (origin = rank of the sequence; per-rank capacity under local
     * scope) and the local executor.
     */
    public static RunOptions referenceOptions(Policy policy, int experts, int ranks, CapacityScope scope) {
        return new RunOptions(policy, Placement.contiguous(experts, ranks), new LocalExpertExecutor(), null,
                new SplitRouter(ranks, scope));
    }

    public Communicator communicator() { return comm; }

    public DistributedMoe moe() { return moe; }

    /**
     * This rank's options for a caller's: its policy and listener, the distributed placement, Router
     * stage and executor. A caller's {@link EpReplay.Recorder} around this rank's {@link #moe()} is
     * kept (it runs the calls through it and records them, for {@link RankReplay}).
     */
    public RunOptions rankOptions(RunOptions options) {
        ExpertExecutor executor = options.executor() instanceof EpReplay.Recorder r && r.delegate() == moe ? r : moe;
        return new RunOptions(options.policy(), moe.placement(), executor, options.listener(), moe);
    }

    /** How a global batch of {@code sequences} is split over this job's ranks. */
    public SequenceSplit split(int sequences) { return new SequenceSplit(sequences, comm.size()); }

    @Override
    public ModelConfig config() { return model.config(); }

    /** Logits of every sequence of the global batch, on every rank (this rank's computed, the rest gathered). */
    @Override
    public float[][] forward(int[][] sequences, RunOptions options) {
        return gather(split(sequences.length), forwardOwn(sequences, options));
    }

    /**
     * Logits of this rank's sequences of the global batch only ([length x vocab] each; none
     * gathered): for callers that need the MoE layers' work, not every rank's logits (benchmarks).
     */
    public float[][] forwardOwn(int[][] sequences, RunOptions options) {
        return model.forward(split(sequences.length).part(sequences, comm.rank()), rankOptions(options));
    }

    @Override
    public Session newSession(int batch, RunOptions options) {
        return new RankSession(split(batch), model.newSession(split(batch).count(comm.rank()), rankOptions(options)),
                new int[batch]);
    }

    /**
     * {@link Generator#greedyBatch} over the ranks (no stop token, so every rank runs the same
     * number of steps). Returns every sequence's new tokens, on every rank.
     */
    public int[][] greedy(int[][] prompts, int newTokens, RunOptions options) {
        return Generator.greedyBatch(newSession(prompts.length, options), prompts, newTokens);
    }

    /** Every rank's rows of {@code own} (this rank's sequences in order), gathered in sequence order. */
    private float[][] gather(SequenceSplit split, float[][] own) {
        int[] counts = new int[comm.size()];
        int[] lengths = new int[split.sequences()];
        int[] mine = new int[own.length];
        for (int i = 0; i < own.length; i++) mine[i] = own[i].length;
        int[] perRank = new int[comm.size()];
        for (int q = 0; q < comm.size(); q++) perRank[q] = split.count(q);
        comm.allgatherv(mine, lengths, perRank);
        for (int q = 0; q < comm.size(); q++) {
            for (int s = split.first(q); s < split.first(q + 1); s++) counts[q] = Math.addExact(counts[q], lengths[s]);
        }
        float[] all = new float[sum(counts)];
        comm.allgatherv(flatten(own, counts[comm.rank()]), all, counts);
        float[][] rows = new float[split.sequences()][];
        for (int s = 0, at = 0; s < rows.length; s++) {
            rows[s] = Arrays.copyOfRange(all, at, at + lengths[s]);
            at += lengths[s];
        }
        return rows;
    }

    /** The distributed session: this rank's sequences in a session of the wrapped model. */
    private final class RankSession implements Session {
        private final SequenceSplit split;
        private final Session own;
        private final int[] lengths;

        RankSession(SequenceSplit split, Session own, int[] lengths) {
            this.split = split;
            this.own = own;
            this.lengths = lengths;
        }

        @Override
        public float[][] append(int[][] tokens) {
            float[][] all = gather(split, own.append(part(tokens)));
            for (int b = 0; b < tokens.length; b++) lengths[b] += tokens[b].length;
            return all;
        }

        @Override
        public float[][] appendLast(int[][] tokens) {
            float[][] all = gather(split, own.appendLast(part(tokens)));
            for (int b = 0; b < tokens.length; b++) lengths[b] += tokens[b].length;
            return all;
        }

        private int[][] part(int[][] tokens) {
            if (tokens.length != split.sequences()) {
                throw new IllegalArgumentException("session holds " + split.sequences() + " sequences but " + tokens.length
                        + " were given");
            }
            return split.part(tokens, comm.rank());
        }

        /**
         * Not supported: a forked row's source may live on another rank, whose KV cache would have
         * to travel. Score without shared contexts ({@code --no-shared-context}) under mpirun.
         */
        @Override
        public Session fork(int[] sources) {
            throw new UnsupportedOperationException("Session.fork is not available across ranks (a row's KV cache lives on "
                    + "the rank that owns its sequence); under mpirun score with --no-shared-context");
        }

        @Override
        public int length(int b) { return lengths[b]; }

        /** Every rank calls it; the rank owning sequence b makes room in its cache row. */
        @Override
        public void reserve(int b, int length) {
            if (split.rankOf(b) == comm.rank()) own.reserve(b - split.first(comm.rank()), length);
        }

        /** Every rank calls it; the rank owning sequence b empties its cache row. */
        @Override
        public void reset(int b) {
            if (split.rankOf(b) == comm.rank()) own.reset(b - split.first(comm.rank()));
            lengths[b] = 0;
        }

        @Override
        public Session withOptions(RunOptions options) {
            return new RankSession(split, own.withOptions(rankOptions(options)), lengths);
        }
    }

    /**
     * Bytes of checkpoint tensors this rank reads: every non-expert tensor, and the routed-expert
     * tensors ({@code ...experts.N....}) of its own experts only.
     */
    public long residentWeightBytes() {
        if (!(model instanceof Decoder d)) throw new IllegalStateException("resident weight bytes need a Decoder, got " + model);
        return residentWeightBytes(d.checkpoint().tensors(), moe.placement(), comm.rank());
    }

    /** As {@link #residentWeightBytes()} for a checkpoint's tensors, a placement and a rank. */
    public static long residentWeightBytes(Map<String, Tensor> tensors, Placement placement, int rank) {
        long bytes = 0;
        for (Tensor t : tensors.values()) {
            Matcher m = EXPERT.matcher(t.name());
            if (m.find() && placement.device(Integer.parseInt(m.group(1))) != rank) continue;
            bytes += t.data().byteSize();
        }
        return bytes;
    }

    private static int sum(int[] a) {
        int s = 0;
        for (int x : a) s = Math.addExact(s, x);
        return s;
    }

    /** Closes the wrapped model (its checkpoint), not the communicator. */
    @Override
    public void close() {
        model.close();
    }

    private static float[] flatten(float[][] rows, int total) {
        float[] f = new float[total];
        int at = 0;
        for (float[] r : rows) {
            System.arraycopy(r, 0, f, at, r.length);
            at += r.length;
        }
        return f;
    }
}
