package capmoe.runtime.dist;

import java.util.ArrayList;
import java.util.List;

/**
 * One MoE layer call on one rank, measured (System.nanoTime on that rank), in the order the
 * stages run:
 * <ol>
 *   <li>{@code routerNs}: the Router stage: under global scope the allgather of router logits
 *       plus routing the global batch; under local scope routing this rank's tokens;</li>
 *   <li>{@code dispatchNs}: Dispatch: sorting the kept pairs by expert, gathering rows into the
 *       send buffer, the metadata exchange (rows per expert, alltoallv of ints) and the
 *       alltoallv of fp32 hidden rows;</li>
 *   <li>{@code expertNs}: the Experts stage on this rank's own experts;</li>
 *   <li>{@code waitNs}: from finishing its own experts until every rank has finished theirs (a
 *       barrier): the straggler wait, measured;</li>
 *   <li>{@code combineNs}: Combine: the alltoallv returning expert outputs to their tokens'
 *       ranks plus adding {@code w*y} into the output.</li>
 * </ol>
 * The rank's layer time is the sum; over ranks, the slowest rank's {@code routerNs+dispatchNs+
 * expertNs} is the critical path into the wait, and {@code dispatchNs+combineNs} bounds the
 * all-to-all share from above (both include sorting/packing work).
 *
 * @param layer        decoder layer index
 * @param rank         this rank
 * @param tokens       this rank's tokens in the call
 * @param pairsSent    kept pairs of this rank's tokens (rows sent, to itself included)
 * @param rowsReceived rows this rank's experts computed (from all ranks)
 * @param bytesSent    bytes of hidden rows this rank sent to other ranks (not to itself)
 */
public record MoeTiming(int layer, int rank, int tokens, int pairsSent, int rowsReceived, long bytesSent,
                        long routerNs, long dispatchNs, long expertNs, long waitNs, long combineNs) {

    /** The whole layer call on this rank. */
    public long totalNs() {
        return routerNs + dispatchNs + expertNs + waitNs + combineNs;
    }

    /** Time in the two all-to-all stages (dispatch + combine) on this rank. */
    public long allToAllNs() {
        return dispatchNs + combineNs;
    }

    private static final int INTS = 17; // 5 ints + 6 longs as (high, low) pairs

    /**
     * Collective: every rank's timings, on every rank, grouped by layer call: element i holds
     * the i-th call's timing of rank 0, 1, ..., D-1 (every rank sees the same calls in the same
     * order, since MoE layers are collective). Fails when ranks recorded different call counts.
     */
    public static List<List<MoeTiming>> gather(Communicator comm, List<MoeTiming> own) {
        int d = comm.size();
        int[] calls = new int[d];
        comm.allgather(own.size(), calls);
        for (int q = 1; q < d; q++) {
            if (calls[q] != calls[0]) {
                throw new IllegalStateException("ranks recorded different numbers of MoE layer calls: rank 0 " + calls[0]
                        + ", rank " + q + " " + calls[q]);
            }
        }
        int n = calls[0];
        int[] send = new int[n * INTS];
        for (int i = 0; i < n; i++) own.get(i).pack(send, i * INTS);
        int[] counts = new int[d];
        java.util.Arrays.fill(counts, n * INTS);
        int[] all = new int[d * n * INTS];
        comm.allgatherv(send, all, counts);
        List<List<MoeTiming>> byCall = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            List<MoeTiming> call = new ArrayList<>(d);
            for (int q = 0; q < d; q++) call.add(unpack(all, (q * n + i) * INTS));
            byCall.add(List.copyOf(call));
        }
        return byCall;
    }

    private void pack(int[] a, int at) {
        a[at] = layer;
        a[at + 1] = rank;
        a[at + 2] = tokens;
        a[at + 3] = pairsSent;
        a[at + 4] = rowsReceived;
        long[] longs = {bytesSent, routerNs, dispatchNs, expertNs, waitNs, combineNs};
        for (int j = 0; j < longs.length; j++) {
            a[at + 5 + 2 * j] = (int) (longs[j] >>> 32);
            a[at + 6 + 2 * j] = (int) longs[j];
        }
    }

    private static MoeTiming unpack(int[] a, int at) {
        long[] l = new long[6];
        for (int j = 0; j < 6; j++) l[j] = ((long) a[at + 5 + 2 * j] << 32) | (a[at + 6 + 2 * j] & 0xFFFFFFFFL);
        return new MoeTiming(a[at], a[at + 1], a[at + 2], a[at + 3], a[at + 4], l[0], l[1], l[2], l[3], l[4], l[5]);
    }
}
