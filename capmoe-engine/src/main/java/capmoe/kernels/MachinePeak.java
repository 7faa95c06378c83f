package capmoe.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.atomic.DoubleAdder;

/**
 * Measures what this machine can do, in the same JVM the benchmark runs in: fp32 FMA throughput
 * (independent vector FMA chains per thread, no memory traffic) and memory read bandwidth (a
 * vectorised sum over an array far larger than the caches). Used to state a benchmark's result
 * as a fraction of the machine's own peak.
 */
public final class MachinePeak {
    private MachinePeak() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /**
     * fp32 FLOP/s over all threads of {@code pool} (an FMA counts 2), the best of {@code runs}
     * runs: other work on the machine can only make a run slower, never faster.
     */
    public static double fmaFlops(Parallel pool, long itersPerThread, int runs) {
        DoubleAdder sink = new DoubleAdder();
        int threads = pool.threads();
        // warm up: many short calls, so the JIT compiles fmaLoop itself with the vector intrinsics
        for (int i = 0; i < 20_000; i++) fmaLoop(1_000, sink);
        long chunks = Math.max(1, itersPerThread / 1_000_000);
        double best = 0;
        for (int r = 0; r < runs; r++) {
            long start = System.nanoTime();
            pool.onEachThread(t -> {
                for (long c = 0; c < chunks; c++) fmaLoop(1_000_000, sink);
            });
            double seconds = (System.nanoTime() - start) / 1e9;
            best = Math.max(best, threads * (double) chunks * 1_000_000 * 8 * F.length() * 2 / seconds);
        }
        if (sink.sum() == 42) System.out.print("");   // keep the result alive
        return best;
    }

    private static void fmaLoop(int iters, DoubleAdder sink) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f), c = FloatVector.broadcast(F, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(F, 1f), a1 = a0.add(1), a2 = a0.add(2), a3 = a0.add(3);
        FloatVector a4 = a0.add(4), a5 = a0.add(5), a6 = a0.add(6), a7 = a0.add(7);
        for (int i = 0; i < iters; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
            a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
        }
        sink.add(a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).reduceLanes(VectorOperators.ADD));
    }

    /** Read bandwidth in bytes/s: each thread sums its slice of a {@code bytes}-sized array, best of {@code reps} (after one pass that pages the array in). */
    public static double readBandwidth(Parallel pool, long bytes, int reps) {
        int n = (int) Math.min(Integer.MAX_VALUE - 64, bytes / 4);
        n = n / (F.length() * pool.threads()) * (F.length() * pool.threads());
        float[] data = new float[n];
        java.util.Arrays.fill(data, 1f);
        DoubleAdder sink = new DoubleAdder();
        double best = 0;
        final int len = n;
        for (int r = 0; r < reps + 1; r++) {
            long start = System.nanoTime();
            int threads = pool.threads();
            pool.onEachThread(t -> {
                int s = (int) ((long) len * t / threads), e = (int) ((long) len * (t + 1) / threads);
                FloatVector a = FloatVector.zero(F), b = FloatVector.zero(F);
                int i = s;
                for (; i + 2 * F.length() <= e; i += 2 * F.length()) {
                    a = a.add(FloatVector.fromArray(F, data, i));
                    b = b.add(FloatVector.fromArray(F, data, i + F.length()));
                }
                float tail = 0;
                for (; i < e; i++) tail += data[i];
                sink.add(a.add(b).reduceLanes(VectorOperators.ADD) + tail);
            });
            double bw = len * 4.0 / ((System.nanoTime() - start) / 1e9);
            if (r > 0) best = Math.max(best, bw);   // the first pass also pages the array in
        }
        return best;
    }
}
