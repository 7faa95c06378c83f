package capmoe.bench;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.routing.RoutingSample;
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

import java.util.concurrent.TimeUnit;

/**
 * Cost of one routing call (softmax, top-k, policy, stats, output) for T=4096 tokens, E=64
 * experts, top-8, 8 devices, on the skewed {@link RoutingSample}. Scores are per token
 * (OperationsPerInvocation = T), so the result reads directly as ns/token; compare with
 * {@link ExpertBench}'s ns per (token, expert) pair, the compute a dropped pair saves.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules=jdk.incubator.vector"})
public class RouterBench {
    static final int T = 4096, E = 64, K = 8, D = 8;

    @Param({"none", "score@1.0", "order@1.0", "reverse@1.0", "random@1.0", "expanded@1.0", "expanded_origin@1.0",
            "device@1.0", "expert_drop@0.1"})
    public String policy;

    float[] logits;
    Router router;

    @Setup
    public void setup() {
        logits = RoutingSample.skewed(T, E, 0).logits();
        router = new Router(RouterConfig.softmax(E, K, false), Policy.parse(policy), Placement.contiguous(E, D));
    }

    @Benchmark
    @OperationsPerInvocation(T)
    public Routing route() {
        return router.route(logits, T);
    }
}
