import capmoe.kernels.DotMode;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.model.RopeConfig;
import capmoe.model.RunOptions;
import capmoe.model.Trace;
import capmoe.model.nn.Batch;
import capmoe.model.nn.MultiHeadAttention;
import capmoe.model.nn.RotaryEmbedding;
import capmoe.model.nn.Scratch;
import capmoe.model.nn.Step;
import capmoe.weights.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.SplittableRandom;

/**
 * One attention layer (OLMoE's: q/k/v/o projections, full q/k RMSNorm, RoPE, the KV cache and
 * causal attention) timed in CPU time of the calling thread on a one-thread team, so that other
 * load on a shared machine (which steals wall time, not CPU time) barely moves it. Run by
 * {@code scripts/bench-ab --attention} against two builds; prints bench's table rows
 * (test, threads, tokens per CPU second):
 * <ol>
 *   <li>ppN: a prefill of N tokens into an empty cache, best of the timed reps;</li>
 *   <li>tgM: M decode steps of one token after a prefill of the longest N, per token, best rep.</li>
 * </ol>
 *
 *   java --add-modules jdk.incubator.vector -cp "capmoe-cli.jar:lib/*" scripts/AttentionBench.java \
 *        HIDDEN HEADS KV_HEADS HEAD_DIM PREFILL[,PREFILL..] DECODE REPS [exact|reduced]
 * The last argument picks the arithmetic between the (F32) projections: exact (default) or reduced
 * (llama.cpp's q/k norm, RoPE and attention, {@code GgmlAttention}).
 */
public final class AttentionBench {
    public static void main(String[] args) {
        if (args.length != 7 && args.length != 8) {
            System.err.println("usage: AttentionBench HIDDEN HEADS KV_HEADS HEAD_DIM PREFILL[,PREFILL..] DECODE REPS [exact|reduced]");
            System.exit(2);
        }
        int hidden = Integer.parseInt(args[0]), heads = Integer.parseInt(args[1]), kvHeads = Integer.parseInt(args[2]);
        int d = Integer.parseInt(args[3]), decode = Integer.parseInt(args[5]), reps = Integer.parseInt(args[6]);
        int[] lens = java.util.Arrays.stream(args[4].split(",")).mapToInt(Integer::parseInt).toArray();
        SplittableRandom rnd = new SplittableRandom(1);
        DotMode dot = args.length == 8 ? DotMode.option(args[7]) : DotMode.EXACT;
        MultiHeadAttention att = new MultiHeadAttention(heads, kvHeads, d,
                matrix(heads * d, hidden, rnd), matrix(kvHeads * d, hidden, rnd), matrix(kvHeads * d, hidden, rnd), matrix(hidden, heads * d, rnd),
                null, null, null, MultiHeadAttention.QkNorm.FULL, ones(heads * d), ones(kvHeads * d), 1e-5,
                new RotaryEmbedding(RopeConfig.defaults(10000, 4096), d, false, dot), dot);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        try (Parallel one = new Parallel(1)) {
            one.run(() -> {
                int longest = java.util.Arrays.stream(lens).max().getAsInt();
                float[] x = random(longest * hidden, rnd), out = new float[longest * hidden];
                // warm-up: the JIT compiles every path (C2, vectors in registers); 3 s of CPU at least, since
                // C2's last compiles of the kernels came up to 10 s after start at 3 x 5 reps (timed still in C1 code)
                long warm = mx.getCurrentThreadCpuTime();
                for (int w = 0; w < 3 * reps || mx.getCurrentThreadCpuTime() - warm < 3_000_000_000L; w++) {
                    for (int n : lens) prefill(att, n, x, out, new Scratch());
                    decode(att, longest, decode, x, out);
                }
                for (int n : lens) {
                    long best = Long.MAX_VALUE;
                    for (int r = 0; r < reps; r++) {
                        long t0 = mx.getCurrentThreadCpuTime();
                        prefill(att, n, x, out, new Scratch());
                        best = Math.min(best, mx.getCurrentThreadCpuTime() - t0);
                    }
                    row("pp" + n, n / (best / 1e9));
                }
                long best = Long.MAX_VALUE;
                for (int r = 0; r < reps; r++) best = Math.min(best, decode(att, longest, decode, x, out));
                row("tg" + decode, decode / (best / 1e9));
            });
        }
    }

    private static void row(String test, double perCpuSecond) {
        System.out.printf("%-8s%8d%13.1f   tokens per CPU second%n", test, 1, perCpuSecond);
    }

    private static Object prefill(MultiHeadAttention att, int n, float[] x, float[] out, Scratch scratch) {
        Object cache = att.newCache(1);
        scratch.beginStep();
        att.forward(x, new Step(Batch.of(new int[][] {new int[n]}, new int[] {0}), RunOptions.defaults(), Trace.NONE, scratch), cache, out);
        return cache;
    }

    /** CPU nanoseconds of {@code steps} one-token steps after a prefill of n. */
    private static long decode(MultiHeadAttention att, int n, int steps, float[] x, float[] out) {
        Scratch scratch = new Scratch();
        Object cache = prefill(att, n, x, out, scratch);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long t0 = mx.getCurrentThreadCpuTime();
        for (int s = 0; s < steps; s++) {
            scratch.beginStep();
            att.forward(x, new Step(Batch.of(new int[][] {new int[1]}, new int[] {n + s}), RunOptions.defaults(), Trace.NONE, scratch), cache, out);
        }
        return mx.getCurrentThreadCpuTime() - t0;
    }

    private static Matrix matrix(int rows, int cols, SplittableRandom rnd) {
        MemorySegment m = Arena.ofAuto().allocate(4L * rows * cols, 64);
        float scale = (float) (1 / Math.sqrt(cols));
        for (long i = 0; i < (long) rows * cols; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) ((rnd.nextDouble() * 2 - 1) * scale));
        return new Matrix("w", DType.F32, rows, cols, m);
    }

    private static float[] random(int n, SplittableRandom rnd) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
        return a;
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return a;
    }
}
