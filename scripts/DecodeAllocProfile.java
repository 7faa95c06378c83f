import capmoe.kernels.DotMode;
import capmoe.kernels.Parallel;
import capmoe.model.CausalLM;
import capmoe.model.Generator;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.weights.DType;
import capmoe.weights.LoadOptions;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;

import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * What a decode step still allocates once the JIT has compiled it: a JFR recording of heap
 * allocation samples taken over decode steps alone, after a warm-up. `bench`'s own JFR runs mix
 * in the rounds before C2 (Vector API objects and the Vector API's Java fallbacks, e.g. a
 * MemorySegment per reinterpret), which hide the steady state.
 * <ol>
 *   <li>loads MODEL (optionally quantized at load to QUANTIZE, q8_0 or q4_0, multiplied in DOT,
 *       exact or reduced, as `bench --quantize Q --dot D`) and makes a team of THREADS threads;</li>
 *   <li>repeats, for WARM seconds then for RECORD seconds: a fresh session with its KV cache
 *       reserved ({@code Session.reserve}), a 16-token prompt, one step, then 64 greedy decode
 *       steps inside {@link #steps} (what to pass to jfr-profile's --only);</li>
 *   <li>records jdk.ObjectAllocationSample (5,000/s, with stacks) only during the RECORD seconds
 *       and writes OUT; prints the heap bytes per step of the calling thread's last round.</li>
 * </ol>
 *
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:FlightRecorderOptions=stackdepth=256 \
 *     -cp "capmoe-cli/target/capmoe-cli.jar:capmoe-cli/target/lib/*" scripts/DecodeAllocProfile.java MODEL THREADS WARM RECORD OUT [QUANTIZE [DOT]]
 *   then scripts/jfr-profile --alloc --only DecodeAllocProfile.steps OUT
 */
public final class DecodeAllocProfile {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

    /** The counted part: 64 greedy decode steps; returns the calling thread's heap bytes per step. */
    static double steps(Session s, int[][] next, float[][] logits) {
        long a0 = THREADS.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 64; i++) {
            next[0][0] = Generator.argmax(logits[0]);
            s.appendLast(next, logits);
        }
        return (THREADS.getCurrentThreadAllocatedBytes() - a0) / 64.0;
    }

    public static void main(String[] a) throws Exception {
        if (a.length < 5 || a.length > 7) {
            System.err.println("usage: DecodeAllocProfile MODEL THREADS WARM_SECONDS RECORD_SECONDS OUT.jfr [q8_0|q4_0 [exact|reduced]]");
            System.exit(2);
        }
        LoadOptions load = a.length == 5 ? LoadOptions.DEFAULT
                : new LoadOptions(DType.quantizeOption(a[5]), a.length == 7 ? DotMode.option(a[6]) : DotMode.EXACT);
        long warm = (long) (Double.parseDouble(a[2]) * 1e9), record = (long) (Double.parseDouble(a[3]) * 1e9);
        try (CausalLM model = Models.load(Path.of(a[0]), null, load); Parallel team = new Parallel(Integer.parseInt(a[1]))) {
            RunOptions options = RunOptions.of(capmoe.routing.Policy.parse("none"));
            int[] prompt = new SplittableRandom(3).ints(16, 2, model.config().vocabSize()).toArray();
            double[] perStep = new double[1];
            Recording rec = null;
            long t0 = System.nanoTime();
            while (rec == null || System.nanoTime() - t0 < record) {
                if (rec == null && System.nanoTime() - t0 >= warm) {
                    rec = new Recording(Configuration.getConfiguration("profile"));
                    rec.enable("jdk.ObjectAllocationSample").with("throttle", "5000/s").withStackTrace();
                    rec.start();
                    t0 = System.nanoTime();
                }
                team.run(() -> {
                    Session s = model.newSession(1, options);
                    s.reserve(0, prompt.length + 65);
                    float[][] logits = s.appendLast(new int[][] {prompt});
                    int[][] next = {{Generator.argmax(logits[0])}};
                    s.appendLast(next, logits);
                    perStep[0] = steps(s, next, logits);
                });
            }
            rec.stop();
            rec.dump(Path.of(a[4]));
            System.out.printf(java.util.Locale.ROOT, "%d thread(s): %.0f heap bytes per decode step (calling thread, last round); recording in %s%n",
                    team.threads(), perStep[0], a[4]);
        }
    }
}
