package capmoe.runtime.dist;

import capmoe.model.CausalLM;
import capmoe.model.Decoder;
import capmoe.model.Generator;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.weights.Tensor;

import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A model run as one rank of D (data-parallel attention + expert-parallel MoE): every rank
 * calls the same method with the same global batch; each runs embedding, attention, the router
 * and the LM head for its own sequences ({@link SequenceSplit}: contiguous blocks) in its own
 * {@link Session}, and per MoE layer joins the others through {@link DistributedMoe} (experts
 * placed contiguously, {@code Placement.contiguous(E, D)}: rank r owns experts
 * floor(r*E/D) .. floor((r+1)*E/D)-1).
 *
 * <p>All methods are collective: every rank calls them in the same order with the same
 * arguments. Results equal one process running {@link #referenceOptions} bit for bit (global
 * scope: the plain single-process run, each token's origin device being its rank).
 */
public final class DataParallelLM {
    private static final Pattern EXPERT = Pattern.compile("(?:^|\\.)experts\\.(\\d+)\\.");

    private final CausalLM model;
    private final Communicator comm;
    private final DistributedMoe moe;
    private final RunOptions options;

    /**
     * @param observer receives this rank's timing of every MoE layer call (may be null)
     */
    public DataParallelLM(CausalLM model, Communicator comm, Policy policy, CapacityScope scope, Consumer<MoeTiming> observer) {
        int experts = model.config().numExperts();
        if (experts < comm.size()) {
            throw new IllegalArgumentException("the model has " + experts + " experts per MoE layer, fewer than the job's "
                    + comm.size() + " ranks (each rank must own at least one)");
        }
        this.model = model;
        this.comm = comm;
        this.moe = new DistributedMoe(comm, Placement.contiguous(experts, comm.size()), scope, observer);
        this.options = new RunOptions(policy, moe.placement(), moe, null, moe);
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

    /** The rank's run options (policy, rank placement, the distributed Router stage and executor). */
    public RunOptions options() { return options; }

    /** How a global batch of {@code sequences} is split over this job's ranks. */
    public SequenceSplit split(int sequences) { return new SequenceSplit(sequences, comm.size()); }

    /** Logits of this rank's sequences of the global batch: [length x vocab] each. */
    public float[][] forwardOwn(int[][] global) {
        SequenceSplit split = split(global.length);
        return model.forward(split.part(global, comm.rank()), options);
    }

    /** Logits of every sequence of the global batch, on every rank (this rank's, then gathered). */
    public float[][] forward(int[][] global) {
        float[][] own = forwardOwn(global);
        int v = model.config().vocabSize();
        SequenceSplit split = split(global.length);
        int[] counts = new int[comm.size()];
        for (int q = 0; q < comm.size(); q++) {
            for (int s = split.first(q); s < split.first(q + 1); s++) counts[q] = Math.addExact(counts[q], global[s].length * v);
        }
        float[] all = new float[sum(counts)];
        comm.allgatherv(flatten(own, counts[comm.rank()]), all, counts);
        float[][] logits = new float[global.length][];
        for (int s = 0, at = 0; s < global.length; s++) {
            logits[s] = java.util.Arrays.copyOfRange(all, at, at + global[s].length * v);
            at += global[s].length * v;
        }
        return logits;
    }

    /**
     * Greedy generation with the KV cache: prefill every prompt, then {@code newTokens} steps of
     * one token per sequence (argmax, first on ties; no stop token, so every rank runs the same
     * number of steps). Returns every sequence's new tokens, on every rank.
     */
    public int[][] greedy(int[][] prompts, int newTokens) {
        SequenceSplit split = split(prompts.length);
        int rank = comm.rank(), mine = split.count(rank);
        for (int[] p : prompts) {
            if (p.length == 0) throw new IllegalArgumentException("greedy: every prompt needs at least one token");
        }
        Session session = model.newSession(mine, options);
        int[] ownTokens = new int[mine * newTokens];
        int[][] step = split.part(prompts, rank);
        for (int i = 0; i < newTokens; i++) {
            float[][] last = session.appendLast(step);
            step = new int[mine][];
            for (int b = 0; b < mine; b++) {
                int next = Generator.argmax(last[b]);
                ownTokens[b * newTokens + i] = next;
                step[b] = new int[] {next};
            }
        }
        int[] counts = new int[comm.size()];
        for (int q = 0; q < comm.size(); q++) counts[q] = split.count(q) * newTokens;
        int[] all = new int[prompts.length * newTokens];
        comm.allgatherv(ownTokens, all, counts);
        int[][] out = new int[prompts.length][];
        for (int s = 0; s < prompts.length; s++) out[s] = java.util.Arrays.copyOfRange(all, s * newTokens, (s + 1) * newTokens);
        return out;
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
