package capmoe.model.nn;

import capmoe.kernels.Activations;
import capmoe.kernels.DotMode;
import capmoe.kernels.GgmlOps;
import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.model.RunOptions;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.runtime.Experts;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.runtime.RoutingListener;
import capmoe.runtime.moe.RouterStage;
import capmoe.runtime.PhaseClock;
import capmoe.runtime.PhaseClock.Phase;
import capmoe.weights.DType;

/**
 * A sparse MoE block: router logits in fp32 from the (bf16) gate weight, then the
 * {@link capmoe.runtime.moe} pipeline: the run's Router stage (gating + the capacity policy through
 * capmoe-routing; {@link capmoe.model.RunOptions#router()}), and Dispatch, Experts and Combine in the run's
 * {@link capmoe.runtime.ExpertExecutor}, plus an optional shared expert (Qwen2-MoE: scaled by
 * sigmoid(shared_expert_gate(x)); DeepSeek: added as is). So every policy applies to every model.
 */
public final class SparseMoeBlock implements FeedForward {
    private final int layer;
    private final Matrix gate;
    private final RouterConfig routerConfig;
    private final Experts experts;
    private final FeedForward shared;
    private final Matrix sharedGate;
    /**
     * The router weight [experts x hidden] as floats when its logits are llama.cpp's
     * ({@code --dot reduced}, an F32 router, hidden a multiple of 16: tinyBLAS's order,
     * {@link GgmlOps#dotF32}), else null.
     */
    private final float[] ggmlGate;

    /**
     * @param layer      decoder layer index (what the executor and listener are told)
     * @param gate       router weight [experts x hidden]
     * @param shared     shared expert or null
     * @param sharedGate [1 x hidden] sigmoid gate of the shared expert, or null (ungated)
     */
    public SparseMoeBlock(int layer, Matrix gate, RouterConfig routerConfig, Experts experts,
                          FeedForward shared, Matrix sharedGate) {
        this.layer = layer;
        this.gate = gate;
        this.routerConfig = routerConfig;
        this.experts = experts;
        this.shared = shared;
        this.sharedGate = sharedGate;
        if (gate.dot() == DotMode.REDUCED && gate.dtype() == DType.F32 && gate.hasRowMajor() && GgmlOps.tinyBlasF32(gate.cols())) {
            ggmlGate = new float[gate.rows() * gate.cols()];
            for (int r = 0; r < gate.rows(); r++) gate.row(r, ggmlGate, r * gate.cols());
        } else {
            ggmlGate = null;
        }
    }

    public int layer() { return layer; }

    public Experts experts() { return experts; }

    public RouterConfig routerConfig() { return routerConfig; }

    /** Router logits [tokens x experts], fp32, in a new array. */
    public float[] routerLogits(float[] x, int tokens) {
        float[] logits = new float[tokens * gate.rows()];
        routerLogits(x, tokens, logits);
        return logits;
    }

    /** Router logits [tokens x experts] into {@code logits}: the gate matmul, or llama.cpp's F32 one ({@link #ggmlGate}). */
    private void routerLogits(float[] x, int tokens, float[] logits) {
        if (ggmlGate == null) {
            MatMul.matmul(x, tokens, gate, logits);
            return;
        }
        int e = gate.rows(), h = gate.cols();
        Parallel.current().forRange(tokens, (int) Math.max(1, Parallel.MIN_TASK_WORK / ((long) e * h)), (t0, t1) -> {
            float[] lanes = GgmlOps.lanes();
            for (int t = t0; t < t1; t++) {
                for (int j = 0; j < e; j++) logits[t * e + j] = GgmlOps.dotF32(ggmlGate, j * h, x, t * h, h, lanes);
            }
        });
    }

    /** {@code out[0 .. tokens*h)} = 0, over the team for a prefill (its 512 x 2048 floats are 4 MB), on the caller for a decode step. */
    private static void clear(float[] out, int tokens, int h) {
        if (tokens < 64) {
            java.util.Arrays.fill(out, 0, tokens * h, 0f);
            return;
        }
        Parallel.current().forWork(tokens, h / 4, (t0, t1) -> java.util.Arrays.fill(out, t0 * h, t1 * h, 0f));
    }

    @Override
    public void forward(float[] x, int tokens, Step step, float[] out) {
        RunOptions options = step.options();
        float[] logits = step.scratch().exact(Scratch.Buffer.ROUTER_LOGITS, tokens * gate.rows());
        routerLogits(x, tokens, logits);
        step.trace().routerLogits(layer, logits, tokens);
        // nothing keeps the routing past this call with the local router, executor and no listener:
        // its arrays can be the kept router's own (no allocation per call)
        Routing routing = options.router() == RouterStage.LOCAL && options.listener() == RoutingListener.NONE
                && options.executor() instanceof LocalExpertExecutor
                ? RouterStage.localReusing(layer, routerConfig, options.policy(), options.placementFor(layer, experts.count()),
                        logits, tokens)
                : options.router().route(layer, routerConfig, options.policy(), options.placementFor(layer, experts.count()),
                        logits, tokens, step.batch().sequenceOf(), step.batch().sequences());
        options.listener().onRouting(layer, routing);
        PhaseClock.lap(Phase.ROUTER);
        clear(out, tokens, experts.hidden());
        options.executor().run(layer, experts, x, routing, out);
        PhaseClock.lap(Phase.EXPERTS);                   // an executor without laps of its own
        if (shared != null) {
            int h = experts.hidden();
            float[] s = step.scratch().get(Scratch.Buffer.SHARED_OUT, tokens * h);
            shared.forward(x, tokens, step, s);
            float[] g = null;
            if (sharedGate != null) {
                g = step.scratch().get(Scratch.Buffer.SHARED_GATE, tokens);
                MatMul.matmul(x, tokens, sharedGate, g);
            }
            float[] gate = g;
            Parallel.current().forRange(tokens, (int) Math.max(1, Parallel.MIN_TASK_WORK / h), (t0, t1) -> {
                for (int t = t0; t < t1; t++) {
                    float scale = gate == null ? 1f : Activations.sigmoid(gate[t]);
                    for (int c = 0; c < h; c++) out[t * h + c] += scale * s[t * h + c];
                }
            });
            PhaseClock.lap(Phase.EXPERTS);
        }
    }
}
