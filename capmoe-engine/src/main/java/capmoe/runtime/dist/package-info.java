/**
 * The multi-process runtime: data-parallel attention + expert-parallel MoE, one process (MPI
 * rank) per device, over a {@link capmoe.runtime.dist.Communicator} (Open MPI's is
 * {@code capmoe.runtime.mpi.MpiCommunicator}).
 *
 * <pre>
 *  global batch (B sequences, same on every rank)
 *     │ SequenceSplit: rank r takes sequences ⌊rB/D⌋ .. ⌊(r+1)B/D⌋-1
 *     ▼
 *  rank r: embedding, attention, router logits for its tokens       (DataParallelLM)
 *     │ per MoE layer (DistributedMoe):
 *     │  Router   global: allgather logits → route the global batch → own slice
 *     │           local:  route own tokens, C_local = ceil(γ·k·T_r/E)
 *     │  Dispatch sort by expert; alltoallv rows-per-expert (ints), alltoallv hidden rows (fp32)
 *     │  Experts  own experts, rows in global token order
 *     │  Wait     barrier (the straggler wait)
 *     │  Combine  alltoallv outputs back; out[t] += w·y, experts ascending, tokens ascending
 *     ▼
 *  LM head for its tokens; logits allgathered (every rank returns the whole batch's)
 * </pre>
 *
 * {@link capmoe.runtime.dist.SplitRouter} computes the same decisions in one process (the
 * reference the MPI tests compare against bit for bit); {@link capmoe.runtime.dist.MoeTiming}
 * is each layer call's measured stages on one rank; {@code DistEpBench} times policies over the
 * ranks; {@link capmoe.runtime.dist.RankReplay} replays an evaluation's recorded MoE layer calls
 * over them ({@code demo} and {@code eval --ep} under mpirun).
 */
package capmoe.runtime.dist;
