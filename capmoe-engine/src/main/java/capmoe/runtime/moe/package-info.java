/**
 * The one MoE pipeline every executor shares: Router → Dispatch → Experts → Combine.
 *
 * <pre>
 *  x [T x H] ──► router logits [T x E] (SparseMoeBlock: x · gateᵀ, fp32)
 *                 │
 *   RouterStage   │  gating + capacity policy (capmoe-routing Router)
 *                 ▼
 *              Routing: kept (token, expert, w), CSR by token
 *                 │
 *   Dispatch      │  counting sort by expert (tokens ascending in a group) → slots 0..P-1
 *                 │  gather: expert e's rows of x, one contiguous [rows(e) x H] block
 *                 ▼           (multi-device: the all-to-all moves these blocks to their owners)
 *   ExpertStage   │  Experts.apply(e, in, y, rows): one grouped SwiGLU matmul per expert
 *                 ▼           (each executor runs its share: all experts / a device's / a rank's)
 *   Combine       │  out[t] += w · y, experts ascending, tokens ascending
 *                 ▼           (multi-device: the all-to-all brings y back first)
 *              out [T x H]
 * </pre>
 *
 * <p>Who uses it: {@link capmoe.runtime.LocalExpertExecutor} (one process, experts one after
 * another), {@link capmoe.runtime.ep.DeviceExpertExecutor} (in-JVM devices, each running its
 * experts' share of the Experts stage), and the multi-process runtime in
 * {@code capmoe.runtime.dist} (each MPI rank dispatching its own tokens' pairs to the ranks
 * that own the experts). Because Dispatch and Combine fix the order of every row an expert sees
 * and of every sum into out, and {@link capmoe.kernels.MatMul} makes a row's result independent
 * of the rows beside it, all of them give the same bits.
 *
 * <p>The split follows vLLM's modular MoE kernel
 * (<a href="https://github.com/vllm-project/vllm/blob/003d383eb3f3275169256e85e5b0ae9d5455342a/vllm/model_executor/layers/fused_moe/modular_kernel.py#L51-L86">
 * vllm/model_executor/layers/fused_moe/modular_kernel.py L51-L86</a>: "[Router] → [Quantize-Dispatch]
 * → [Permute-Experts-Unpermute] → [Combine]"): its {@code FusedMoEPrepareAndFinalizeModular.prepare}
 * is our Dispatch, {@code FusedMoEExpertsModular} our Experts stage, and {@code finalize} (apply
 * the top-k weights and reduce) our Combine.
 */
package capmoe.runtime.moe;
