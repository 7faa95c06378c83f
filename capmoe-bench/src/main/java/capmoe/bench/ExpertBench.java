package capmoe.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * What one dropped (token, expert) pair saves: a SwiGLU expert, y = W2 (silu(W1 x) * W3 x), on a
 * batch of 64 tokens, in plain float loops (the JIT vectorises the inner dot products); score per
 * pair. hidden/inter: 192/96 = the trained olmoe-tiny of ../shared/models, 2048/1024 = OLMoE-1B-7B.
 * A plain reference point, not the engine's kernel (which is faster), so the ratio
 * routing-ns-per-token / expert-ns-per-pair it gives is conservative only for the small model.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules=jdk.incubator.vector"})
public class ExpertBench {
    static final int TOKENS = 64;

    @Param({"192x96", "2048x1024"})
    public String dims;

    int hidden, inter;
    float[] w1, w3, w2, x, h, y;

    @Setup
    public void setup() {
        String[] d = dims.split("x");
        hidden = Integer.parseInt(d[0]);
        inter = Integer.parseInt(d[1]);
        SplittableRandom rng = new SplittableRandom(1);
        w1 = random(rng, inter * hidden);
        w3 = random(rng, inter * hidden);
        w2 = random(rng, hidden * inter);
        x = random(rng, TOKENS * hidden);
        h = new float[TOKENS * inter];
        y = new float[TOKENS * hidden];
    }

    static float[] random(SplittableRandom rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextDouble() - 0.5) * 0.1f;
        return a;
    }

    @Benchmark
    @OperationsPerInvocation(TOKENS)
    public float[] swiglu() {
        for (int t = 0; t < TOKENS; t++) {
            int xo = t * hidden;
            for (int j = 0; j < inter; j++) {
                float g = 0f, u = 0f;
                int wo = j * hidden;
                for (int i = 0; i < hidden; i++) {
                    g += w1[wo + i] * x[xo + i];
                    u += w3[wo + i] * x[xo + i];
                }
                h[t * inter + j] = g / (1f + (float) Math.exp(-g)) * u;
            }
            for (int i = 0; i < hidden; i++) {
                float s = 0f;
                int wo = i * inter;
                for (int j = 0; j < inter; j++) s += w2[wo + j] * h[t * inter + j];
                y[xo + i] = s;
            }
        }
        return y;
    }
}
