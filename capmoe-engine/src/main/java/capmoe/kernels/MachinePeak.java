package capmoe.kernels;

import capmoe.weights.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.DoubleAdder;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Measures what this machine can do, in the same JVM the benchmark runs in: the multiply-add
 * throughput of the arithmetic a model's matmuls run ({@link Arithmetic}: fp32 FMA in the Vector
 * API for the exact kernels; the reduced kernels' own instruction, bf16 {@code vdpbf16ps} or int8
 * {@code vpdpbusd}, in the native peak loops of {@code capmoe-engine/src/main/c/machine_peak.c}),
 * each as independent accumulator chains per thread with no memory traffic, and memory read
 * bandwidth (a vectorised sum over an array far larger than the caches). Every peak is the best of
 * several runs: other work on the machine can only make a run slower, never faster. Used to state
 * a benchmark's result as a fraction of the machine's own peak.
 */
public final class MachinePeak {
    private MachinePeak() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /**
     * The arithmetic of a model's matmuls, whose peak its prefill is measured against: what the
     * kernels of its dtype in its {@link DotMode} execute (an FMA or a bf16/int8 product-and-add
     * counts as 2 operations, as a FLOP count does).
     */
    public enum Arithmetic {
        /** fp32 fused multiply-add: every {@link DotMode#EXACT} kernel, and F16/F32 weights in either mode. */
        FP32_FMA,
        /** bf16 products summed in fp32: BF16 weights in {@link DotMode#REDUCED} ({@link ReducedMatMul}). */
        BF16_DOT,
        /** int8 products summed in int32: Q8_0/Q4_0 weights in {@link DotMode#REDUCED} ({@link QuantDot}). */
        INT8_DOT;

        /** The arithmetic of {@code dtype} weights multiplied in {@code dot} mode. */
        public static Arithmetic of(DType dtype, DotMode dot) {
            if (dot != DotMode.REDUCED) return FP32_FMA;
            if (dtype == DType.BF16) return BF16_DOT;
            return dtype.quantized() ? INT8_DOT : FP32_FMA;
        }

        /** The native peak loop's kind (machine_peak.c), 0 for fp32 FMA (measured in Java). */
        int kind() {
            return ordinal();
        }

        /**
         * The instruction measured, as the kernels run it on this CPU, e.g. "int8 dot (vpdpbusd,
         * AVX-512 VNNI)"; the level is the one the kernels use ({@link QuantDot#isa}, {@link ReducedMatMul#kernel}).
         */
        public String instruction() {
            return switch (this) {
                case FP32_FMA -> "fp32 FMA (" + F.length() + " lanes, Vector API)";
                case BF16_DOT -> level() == 2 ? "bf16 dot (vdpbf16ps, AVX512_BF16)" : "bf16 dot (portable C)";
                case INT8_DOT -> switch (level()) {
                    case 2 -> "int8 dot (vpdpbusd, AVX-512 VNNI)";
                    case 1 -> "int8 dot (vpmaddubsw, AVX2)";
                    default -> "int8 dot (portable C)";
                };
            };
        }

        /** The native loop's level: the kernels' own path (machine_peak.c's levels 2 / 1 / 0). */
        int level() {
            int wanted = switch (this) {
                case FP32_FMA -> 0;
                case BF16_DOT -> ReducedMatMul.kernel().equals("avx512bf16") ? 2 : 0;
                case INT8_DOT -> QuantDot.isa(-1);
            };
            return this == FP32_FMA ? 0 : peakLevel(kind(), wanted);
        }
    }

    private static final MethodHandle PEAK_LEVEL = NativeKernels.function("capmoe_peak_level",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), false);
    private static final MethodHandle PEAK_RUN = NativeKernels.function("capmoe_peak_run",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), false);
    /** About how long one run of a native peak loop takes (the best of several is kept). */
    static final double RUN_SECONDS = 0.2;
    /** The native loops' accumulator chains (machine_peak.c's NCHAIN); their io array holds 2 floats more. */
    private static final int CHAINS = 12;

    private static int peakLevel(int kind, int level) {
        try {
            return (int) PEAK_LEVEL.invokeExact(kind, level);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Operations per second (a multiply-add counts 2) of {@code a} over all threads of {@code pool},
     * the best of {@code runs} runs: fp32 FMA is {@link #fmaFlops} (10^8 rounds of 8 FMAs per
     * thread); bf16 and int8 dots run machine_peak.c's loop at the kernels' level on every thread at
     * once for about {@link #RUN_SECONDS}, its length set by one untimed calibration call.
     */
    public static double peakOps(Parallel pool, Arithmetic a, int runs) {
        if (a == Arithmetic.FP32_FMA) return fmaFlops(pool, 100_000_000L, runs);
        int kind = a.kind(), level = a.level(), threads = pool.threads();
        long iters = 1 << 16;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment io = arena.allocate(ValueLayout.JAVA_FLOAT, (long) threads * (CHAINS + 2));
            for (long i = 0; i < io.byteSize() / 4; i++) io.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1 + (i % 7) * 0.125f);
            long t0 = System.nanoTime();
            run(kind, level, iters, io, 0);
            double perIter = Math.max(1, System.nanoTime() - t0) / (double) iters;
            long n = Math.max(iters, (long) (RUN_SECONDS * 1e9 / perIter));
            double best = 0;
            for (int r = 0; r < runs; r++) {
                long[] done = new long[threads];
                long start = System.nanoTime();
                pool.onEachThread(t -> done[t] = run(kind, level, n, io, t));
                double elapsed = (System.nanoTime() - start) / 1e9;
                long total = 0;
                for (long d : done) total += d;
                best = Math.max(best, 2.0 * total / elapsed);
            }
            return best;
        }
    }

    /** One thread's loop: {@code iters} rounds on its own slice of {@code io}; the multiply-adds done. */
    private static long run(int kind, int level, long iters, MemorySegment io, int thread) {
        try {
            long done = (long) PEAK_RUN.invokeExact(kind, level, iters, io.asSlice(4L * thread * (CHAINS + 2), 4L * (CHAINS + 2)));
            if (done < 0) throw new IllegalStateException("capmoe_peak_run: unknown kind " + kind);
            return done;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

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

    /**
     * Read bandwidth in bytes/s: each thread sums its slice of a {@code bytes}-sized array, best of
     * {@code reps} (after one pass that pages the array in). The sum is compiled first (short calls
     * for at least 0.5 s, as {@link #fmaFlops} warms up): a pass run before C2 has compiled it with the vector
     * intrinsics measures the interpreter, not the memory (the device's 16 threads read 5.7–8.4 GB/s
     * so with {@code --peak-runs 1}).
     */
    public static double readBandwidth(Parallel pool, long bytes, int reps) {
        int n = (int) Math.min(Integer.MAX_VALUE - 64, bytes / 4);
        n = n / (F.length() * pool.threads()) * (F.length() * pool.threads());
        float[] data = new float[n];
        java.util.Arrays.fill(data, 1f);
        DoubleAdder sink = new DoubleAdder();
        long warm = System.nanoTime();                // C2 compiles in the background: give it time as well as calls
        for (int i = 0; i < 20_000 || System.nanoTime() - warm < 500_000_000L; i++) sink.add(sum(data, 0, Math.min(n, 4096)));
        double best = 0;
        final int len = n;
        for (int r = 0; r < reps + 1; r++) {
            long start = System.nanoTime();
            int threads = pool.threads();
            pool.onEachThread(t -> sink.add(sum(data, (int) ((long) len * t / threads), (int) ((long) len * (t + 1) / threads))));
            double bw = len * 4.0 / ((System.nanoTime() - start) / 1e9);
            if (r > 0) best = Math.max(best, bw);   // the first pass also pages the array in
        }
        return best;
    }

    /** The sum of {@code data[s, e)}, two vector accumulators: the read-bandwidth pass of one thread. */
    private static float sum(float[] data, int s, int e) {
        FloatVector a = FloatVector.zero(F), b = FloatVector.zero(F);
        int i = s;
        for (; i + 2 * F.length() <= e; i += 2 * F.length()) {
            a = a.add(FloatVector.fromArray(F, data, i));
            b = b.add(FloatVector.fromArray(F, data, i + F.length()));
        }
        float tail = 0;
        for (; i < e; i++) tail += data[i];
        return a.add(b).reduceLanes(VectorOperators.ADD) + tail;
    }
}
