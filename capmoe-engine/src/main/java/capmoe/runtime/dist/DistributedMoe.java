package capmoe.runtime.dist;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;
import capmoe.runtime.moe.Combine;
import capmoe.runtime.moe.Dispatch;
import capmoe.runtime.moe.RouterStage;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * One rank's MoE layers in the multi-process runtime (data-parallel attention, expert-parallel
 * MoE): the {@link capmoe.runtime.moe} pipeline with the all-to-alls between its stages. Used as
 * both the Router stage and the executor of the rank's {@link capmoe.model.RunOptions}. Per MoE
 * layer call, on every rank, collectively:
 * <ol>
 *   <li>Router ({@link #route}): capacity scope {@code global} allgathers every rank's router
 *       logits in global token order (rank-major, {@link SequenceSplit}), routes the global batch
 *       with each token's origin device = its rank, and keeps this rank's slice: every rank takes
 *       the same decisions one process would. Scope {@code local} routes this rank's tokens alone
 *       ({@code C_local = ceil(γ·k·T_rank/E)}), origin = this rank, no exchange.</li>
 *   <li>Dispatch: the kept pairs of this rank's tokens sorted by expert ({@link Dispatch}), their
 *       hidden rows packed by destination rank (ranks ascending; inside one, its experts
 *       ascending; inside one expert, tokens ascending); a small alltoallv of ints tells each
 *       owner how many rows per expert come from each rank, then one alltoallv moves the rows
 *       (fp32, or bf16 with {@link Wire#BF16}: half the bytes, rounded).</li>
 *   <li>Experts: each own expert, ascending, on its rows from rank 0, then rank 1, ... — global
 *       token order, so exactly the rows (and the order) one process gives it.</li>
 *   <li>Wait: a barrier; the time in it is the straggler wait ({@link MoeTiming#waitNs}).</li>
 *   <li>Combine: an alltoallv returns each row's expert output to its token's rank, in the order
 *       it was sent (in the same {@link Wire} format); {@link Combine} adds {@code w*y}, experts
 *       ascending, tokens ascending: the single-process executor's order, hence its bits (with
 *       fp32 rows; with bf16 rows those of one process rounding at the same two points).</li>
 * </ol>
 * Only this rank's experts are touched ({@link Experts#apply} for them alone), so of the
 * memory-mapped checkpoint a rank reads the non-expert weights and its own experts.
 *
 * <p>Scratch per call (P = kept pairs of this rank's tokens, R = rows received, H = hidden):
 * {@code send} [P x H] rows by destination; {@code recv} [R x H] rows by source rank, each
 * source's block by expert; {@code in}, {@code y} [max rows of an own expert x H] one expert's
 * gathered input and output; {@code back} [R x H] expert outputs in {@code recv}'s layout;
 * {@code ret} [P x H] the outputs returned, in {@code send}'s layout.
 */
public final class DistributedMoe implements RouterStage, ExpertExecutor {
    private final Communicator comm;
    private final Placement placement;
    private final CapacityScope scope;
    private final Wire wire;
    private final Consumer<MoeTiming> observer;
    private final int[][] expertsOf; // expertsOf[q]: experts of rank q, ascending
    private long routerNs;           // the current call's Router stage, handed to run()
    private int routedLayer = -1;

    /** Rows travel as fp32 ({@link Wire#FP32}): bit-identical to one process. */
    public DistributedMoe(Communicator comm, Placement placement, CapacityScope scope, Consumer<MoeTiming> observer) {
        this(comm, placement, scope, Wire.FP32, observer);
    }

    /**
     * @param placement which rank owns each expert (devices = ranks)
     * @param wire      how hidden rows travel in the all-to-alls
     * @param observer  receives every layer call's timing on this rank (may be null)
     */
    public DistributedMoe(Communicator comm, Placement placement, CapacityScope scope, Wire wire, Consumer<MoeTiming> observer) {
        if (placement.devices() != comm.size()) {
            throw new IllegalArgumentException("the expert placement is over " + placement.devices() + " devices but the job has "
                    + comm.size() + " ranks");
        }
        if (placement.replicated()) {
            throw new IllegalArgumentException("the multi-process runtime places each expert on one rank; replicated placement "
                    + placement + " is not supported there");
        }
        this.comm = comm;
        this.placement = placement;
        this.scope = scope;
        this.wire = wire;
        this.observer = observer == null ? t -> { } : observer;
        int[] per = placement.expertsPerDevice();
        this.expertsOf = new int[per.length][];
        int[] fill = new int[per.length];
        for (int q = 0; q < per.length; q++) expertsOf[q] = new int[per[q]];
        for (int e = 0; e < placement.experts(); e++) expertsOf[placement.device(e)][fill[placement.device(e)]++] = e;
    }

    public Placement placement() { return placement; }

    public CapacityScope scope() { return scope; }

    public Wire wire() { return wire; }

    /** The experts of this rank, ascending. */
    public int[] ownExperts() { return expertsOf[comm.rank()].clone(); }

    @Override
    public Routing route(int layer, RouterConfig config, Policy policy, Placement p, float[] logits, int tokens,
                         int[] sequenceOf, int sequences) {
        long t0 = System.nanoTime();
        int rank = comm.rank(), e = config.experts();
        Routing mine;
        if (scope == CapacityScope.LOCAL) {
            int[] origin = new int[tokens];
            Arrays.fill(origin, rank);
            mine = RouterStage.router(layer, config, policy, placement).route(Arrays.copyOf(logits, tokens * e), tokens, origin);
        } else {
            int d = comm.size();
            int[] tokensOf = new int[d];
            comm.allgather(tokens, tokensOf);
            int total = 0, from = 0;
            int[] counts = new int[d];
            for (int q = 0; q < d; q++) {
                if (q < rank) from += tokensOf[q];
                total += tokensOf[q];
                counts[q] = tokensOf[q] * e;
            }
            float[] all = new float[total * e];
            comm.allgatherv(Arrays.copyOf(logits, tokens * e), all, counts);
            int[] origin = new int[total];
            for (int q = 0, t = 0; q < d; q++) for (int i = 0; i < tokensOf[q]; i++) origin[t++] = q;
            Routing global = RouterStage.router(layer, config, policy, placement).route(all, total, origin);
            mine = RoutingSlices.slice(global, from, from + tokens);
        }
        routerNs = System.nanoTime() - t0;
        routedLayer = layer;
        return mine;
    }

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        if (experts.count() != placement.experts()) {
            throw new IllegalArgumentException("layer " + layer + " has " + experts.count() + " experts but the placement covers "
                    + placement.experts());
        }
        long router = routedLayer == layer ? routerNs : 0;
        routedLayer = -1;
        long t0 = System.nanoTime();
        int d = comm.size(), rank = comm.rank(), h = experts.hidden();
        int[] own = expertsOf[rank];

        // 1. Dispatch: sort by expert, pack by destination rank
        Dispatch dispatch = Dispatch.sort(routing, experts.count(), null, experts.combineByWeight());
        float[] send = new float[dispatch.pairs() * h];
        int[] sendRowOf = new int[experts.count()];  // first row of expert e's block in send (and ret)
        int[] sendRows = new int[d], metaCounts = new int[d], recvMetaCounts = new int[d];
        int[] meta = new int[experts.count()];        // rows per expert, by destination then expert
        int row = 0, m = 0;
        for (int q = 0; q < d; q++) {
            for (int e : expertsOf[q]) {
                sendRowOf[e] = row;
                dispatch.gather(e, x, h, send, row);
                meta[m++] = dispatch.rows(e);
                row += dispatch.rows(e);
                sendRows[q] += dispatch.rows(e);
            }
            metaCounts[q] = expertsOf[q].length;
            recvMetaCounts[q] = own.length;
        }
        int[] rowsFrom = new int[d * own.length];     // rowsFrom[s*own + j]: rows of own expert j sent by rank s
        comm.alltoallv(meta, metaCounts, rowsFrom, recvMetaCounts);
        int[] recvRows = new int[d];
        for (int s = 0; s < d; s++) for (int j = 0; j < own.length; j++) recvRows[s] += rowsFrom[s * own.length + j];
        int received = Arrays.stream(recvRows).sum();
        float[] recv = new float[received * h];
        exchange(send, sendRows, recv, recvRows, h);
        long t1 = System.nanoTime();

        // 2. Experts: own experts ascending, rows from rank 0, 1, ... (global token order)
        int[] at = new int[d];                        // next unread row of source s's block in recv
        for (int s = 1; s < d; s++) at[s] = at[s - 1] + recvRows[s - 1];
        int max = 0;
        for (int j = 0; j < own.length; j++) {
            int rows = 0;
            for (int s = 0; s < d; s++) rows += rowsFrom[s * own.length + j];
            max = Math.max(max, rows);
        }
        float[] in = new float[max * h], y = new float[max * h], back = new float[received * h];
        for (int j = 0; j < own.length; j++) {
            int rows = 0;
            for (int s = 0; s < d; s++) {
                int n = rowsFrom[s * own.length + j];
                System.arraycopy(recv, (at[s]) * h, in, rows * h, n * h);
                rows += n;
            }
            if (rows > 0) experts.apply(own[j], in, y, rows);
            rows = 0;
            for (int s = 0; s < d; s++) {
                int n = rowsFrom[s * own.length + j];
                System.arraycopy(y, rows * h, back, at[s] * h, n * h);
                at[s] += n;
                rows += n;
            }
        }
        long t2 = System.nanoTime();

        // 3. Wait for the slowest rank
        comm.barrier();
        long t3 = System.nanoTime();

        // 4. Combine: outputs back in send's layout, then out[t] += w*y in the fixed order
        float[] ret = new float[dispatch.pairs() * h];
        exchange(back, recvRows, ret, sendRows, h);
        Combine.all(dispatch, ret, sendRowOf, out, h);
        long t4 = System.nanoTime();

        long bytes = 0;
        for (int q = 0; q < d; q++) if (q != rank) bytes += (long) sendRows[q] * h * wire.bytes();
        observer.accept(new MoeTiming(layer, rank, routing.tokens(), dispatch.pairs(), received, bytes,
                router, t1 - t0, t2 - t1, t3 - t2, t4 - t3));
    }

    /**
     * One all-to-all of hidden rows ({@code sendRows[q]} rows of h values for rank q), in the
     * {@link Wire}'s format: fp32 as they are; bf16 rounded (every row, those this rank keeps
     * included) and widened back on arrival, so {@code recv} holds the bf16 values as floats.
     */
    private void exchange(float[] send, int[] sendRows, float[] recv, int[] recvRows, int h) {
        int[] sendCounts = times(sendRows, h), recvCounts = times(recvRows, h);
        if (wire == Wire.FP32) {
            comm.alltoallv(send, sendCounts, recv, recvCounts);
            return;
        }
        int received = Arrays.stream(recvCounts).sum();
        short[] in = new short[received];
        comm.alltoallv(Wire.toBf16(send, Arrays.stream(sendCounts).sum()), sendCounts, in, recvCounts);
        Wire.fromBf16(in, received, recv);
    }

    private static int[] times(int[] rows, int h) {
        int[] c = new int[rows.length];
        for (int i = 0; i < rows.length; i++) c[i] = Math.multiplyExact(rows[i], h);
        return c;
    }
}
