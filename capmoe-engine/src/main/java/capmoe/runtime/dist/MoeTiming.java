package capmoe.runtime.dist;

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
}
