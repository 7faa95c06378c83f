package capmoe.model;

import capmoe.kernels.DotMode;
import capmoe.kernels.Parallel;
import capmoe.kernels.QuantDot;
import capmoe.kernels.QuantMatMul;
import capmoe.weights.DType;
import capmoe.weights.LoadOptions;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A decode step allocates nothing once the JIT has compiled it (issue #10: "no per-token
 * allocation"): on the trained olmoe-tiny (../shared/models/olmoe-tiny), with the session's KV cache
 * reserved up front ({@link Session#reserve}), the heap bytes allocated by the calling thread and
 * the team's worker threads ({@code capmoe-kernel-*}) over {@value #STEPS} greedy decode steps are
 * 0, on a team of 1 and of 2 threads; for the stored BF16 weights, and for Q8_0 and Q4_0 in both
 * {@link DotMode}s.
 *
 * <p>Until C2 has compiled the step, Vector API objects and the lambdas of one-chunk phases are
 * real allocations (kilobytes per step), so the test repeats: each try is a fresh session (its
 * prefill and first step not counted), then the counted steps; it passes on the first try that
 * allocates nothing and fails when none of {@value #TRIES} tries does. A step that allocates
 * anything on every step (one object of 16 bytes is 1,024 bytes over the steps) never passes.
 * What it catches (each measured here or with scripts/DecodeAllocProfile.java): a step allocated
 * 1.9-2.6 KB (BF16) and 2.4-4.1 KB (Q8_0) at best before the last of these went: each layer's
 * Routing and RoutingStats ({@code Router.routeReusing} now refills its own), a vector boxed at the
 * lane sums of RmsNorm and of the gate's softmax (1.6 KB), a ThreadLocal entry per handed-off phase
 * (416 bytes at 2 threads), {@code Parallel.forRange}'s split lambda (32 bytes), GgmlAttention's
 * phase lambda (336 bytes, reduced), the quantized matmuls' per-call arrays and lambdas, the
 * embedding's lambda; and before those, the routing's arrays (2.6 KB), a boxed vector per softmax
 * lane-sum add in attention (8.6 KB), a logits array per step (32 KB), a KV cache growing per step
 * (28 KB), the quantized paths' former per-call objects (207 KB Q8_0 exact, 38.5 KB reduced).
 */
class DecodeAllocationTest {
    private static final int STEPS = 64;
    private static final int TRIES = 200;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** The team's worker threads, found before counting (listing threads allocates). */
    private static long[] workers() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("capmoe-kernel-"))
                .mapToLong(Thread::threadId).toArray();
    }

    /** Heap bytes allocated so far by this thread and the given worker threads. */
    private static long allocated(long[] workers) {
        long sum = THREADS.getCurrentThreadAllocatedBytes();
        for (long id : workers) sum += Math.max(0, THREADS.getThreadAllocatedBytes(id));
        return sum;
    }

    /** Bytes per step of {@link #STEPS} decode steps after a 16-token prompt, in a fresh session on the current team. */
    private static double perStep(CausalLM model, RunOptions options, int[] prompt) {
        Session s = model.newSession(1, options);
        s.reserve(0, prompt.length + STEPS + 1);
        float[][] logits = s.appendLast(new int[][] {prompt});
        int[][] next = {{Generator.argmax(logits[0])}};
        s.appendLast(next, logits);                     // the first step (its scratch buffers sized) not counted
        long[] workers = workers();
        long a0 = allocated(workers);
        for (int i = 0; i < STEPS; i++) {
            next[0][0] = Generator.argmax(logits[0]);
            s.appendLast(next, logits);
        }
        return (allocated(workers) - a0) / (double) STEPS;
    }

    @Test
    void aCompiledDecodeStepAllocatesNothingOnOneAndTwoThreads() {
        try (CausalLM model = Models.load(Shared.require("models/olmoe-tiny"))) {
            check(model, "bf16");
        }
        try (CausalLM model = Models.load(Shared.require("models/olmoe-tiny"), null, new LoadOptions(null, DotMode.REDUCED))) {
            check(model, "bf16 reduced");
        }
    }

    /**
     * The same for Q8_0 and Q4_0 weights in both {@code --dot} modes ({@link QuantMatMul}'s decode
     * kernels, {@link QuantDot}'s native ones, the grouped experts over either).
     */
    @Test
    void aCompiledQuantizedDecodeStepAllocatesNothingInBothDotModes() {
        for (DType type : new DType[] {DType.Q8_0, DType.Q4_0}) {
            for (DotMode dot : DotMode.values()) {
                try (CausalLM model = Models.load(Shared.require("models/olmoe-tiny"), null, new LoadOptions(type, dot))) {
                    check(model, type.name().toLowerCase(Locale.ROOT) + " " + dot);
                }
            }
        }
    }

    /** Asserts a step that allocates nothing on a team of 1 and of 2 threads, printing the best bytes per step of each. */
    private static void check(CausalLM model, String label) {
        try (Parallel one = new Parallel(1); Parallel two = new Parallel(2)) {
            int[] prompt = new java.util.SplittableRandom(3).ints(16, 2, model.config().vocabSize()).toArray();
            RunOptions options = RunOptions.of(capmoe.routing.Policy.parse("none"));
            for (Parallel team : new Parallel[] {one, two}) {
                double[] best = {Double.MAX_VALUE};
                int t = 0;
                while (t < TRIES && best[0] > 0) {
                    t++;
                    team.run(() -> best[0] = Math.min(best[0], perStep(model, options, prompt)));
                }
                System.out.printf(Locale.ROOT, "%s, %d threads: %.0f bytes per decode step at best (%d tries)%n", label, team.threads(), best[0], t);
                assertEquals(0, best[0], String.format(Locale.ROOT,
                        "%s, %d threads: a decode step allocated %.0f bytes at best over %d tries of %d steps",
                        label, team.threads(), best[0], TRIES, STEPS));
            }
        }
    }
}
