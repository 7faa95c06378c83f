import capmoe.kernels.DotMode;
import capmoe.kernels.Parallel;
import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.runtime.PhaseClock;
import capmoe.weights.DType;
import capmoe.weights.LoadOptions;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A model's prefill on a one-thread team, timed in the CPU time of that thread, so that other load
 * on a shared machine (which steals wall time, not CPU time) barely moves it: `capmoe bench`'s
 * prefill (one sequence, logits for its last token) for a loaded machine, as scripts/AttentionBench
 * is for one attention layer. Prints tokens per CPU second (best rep) and the PhaseClock stage
 * shares of the timed reps:
 * <ol>
 *   <li>the model loaded with --quantize QUANT (none: as stored) and --dot DOT;</li>
 *   <li>40 untimed prefills (the JIT compiles every path), then REPS timed ones.</li>
 * </ol>
 *
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "capmoe-cli/target/capmoe-cli.jar:capmoe-cli/target/lib/*" \
 *        scripts/PrefillCpuBench.java MODEL_DIR none|q8_0|q4_0 exact|reduced TOKENS REPS
 */
public final class PrefillCpuBench {
    public static void main(String[] args) {
        if (args.length != 5) {
            System.err.println("usage: PrefillCpuBench MODEL_DIR none|q8_0|q4_0 exact|reduced TOKENS REPS");
            System.exit(2);
        }
        DType quantize = args[1].equals("none") ? null : DType.valueOf(args[1].toUpperCase(Locale.ROOT));
        DotMode dot = DotMode.option(args[2]);
        int n = Integer.parseInt(args[3]), reps = Integer.parseInt(args[4]);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        try (CausalLM m = Models.load(Path.of(args[0]), null, new LoadOptions(quantize, dot)); Parallel one = new Parallel(1)) {
            int[] prompt = new SplittableRandom(7).ints(n, 2, m.config().vocabSize()).toArray();
            one.run(() -> {
                for (int w = 0; w < 40; w++) m.newSession(1, RunOptions.defaults()).appendLast(new int[][] {prompt});
                PhaseClock clock = new PhaseClock();
                long best = Long.MAX_VALUE;
                for (int r = 0; r < reps; r++) {
                    long c0 = mx.getCurrentThreadCpuTime();
                    clock.time(() -> m.newSession(1, RunOptions.defaults()).appendLast(new int[][] {prompt}));
                    best = Math.min(best, mx.getCurrentThreadCpuTime() - c0);
                }
                StringBuilder shares = new StringBuilder();
                double[] f = clock.fractions();
                for (PhaseClock.Phase p : PhaseClock.Phase.values()) shares.append(String.format(Locale.ROOT, " %s %.1f%%", p.label(), 100 * f[p.ordinal()]));
                System.out.printf(Locale.ROOT, "pp%d %s --dot %s, 1 thread: %.0f tokens per CPU second; stages:%s%n", n, args[1], args[2], n / (best / 1e9), shares);
            });
        }
    }
}
