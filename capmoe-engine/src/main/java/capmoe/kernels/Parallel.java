package capmoe.kernels;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * The one place where kernels go parallel. Kernels ask {@link #current()}; by default that is a
 * pool over all cores, but a caller can run work on its own pool with {@link #run}, which is how
 * the expert-parallel runtime gives each simulated device its own share of the cores.
 */
public final class Parallel implements AutoCloseable {
    private static final ScopedValue<Parallel> CURRENT = ScopedValue.newInstance();
    private static final Parallel DEFAULT = new Parallel(Runtime.getRuntime().availableProcessors());

    /** Work on the half-open range [start, end). */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    private final int threads;
    private final ForkJoinPool pool;

    /** A pool of {@code threads} workers (1 = run everything on the caller's thread). */
    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.pool = threads == 1 ? null : new ForkJoinPool(threads, ForkJoinPool.defaultForkJoinWorkerThreadFactory, null, false);
    }

    /** The pool bound by the innermost {@link #run}, else the all-cores default. */
    public static Parallel current() {
        return CURRENT.orElse(DEFAULT);
    }

    public static Parallel defaults() { return DEFAULT; }

    public int threads() { return threads; }

    /** Runs {@code work} with this pool as {@link #current()} (for every kernel it calls). */
    public void run(Runnable work) {
        ScopedValue.where(CURRENT, this).run(work);
    }

    /**
     * Splits [0, n) into at most threads() chunks of at least {@code grain} items (chunk bounds are
     * multiples of {@code grain}, so kernels can tile) and runs them in parallel.
     */
    public void forRange(int n, int grain, Range body) {
        if (n <= 0) return;
        grain = Math.max(1, grain);
        int units = (n + grain - 1) / grain;
        int chunks = Math.min(threads, units);
        if (chunks <= 1 || pool == null) {
            body.run(0, n);
            return;
        }
        List<RecursiveAction> tasks = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) {
            int start = Math.min(n, (int) ((long) units * c / chunks) * grain);
            int end = Math.min(n, (int) ((long) units * (c + 1) / chunks) * grain);
            if (start >= end) continue;
            tasks.add(new RecursiveAction() {
                @Override
                protected void compute() {
                    // nested kernels called from a worker must keep using this pool
                    ScopedValue.where(CURRENT, Parallel.this).run(() -> body.run(start, end));
                }
            });
        }
        RecursiveAction all = new RecursiveAction() {
            @Override
            protected void compute() {
                invokeAll(tasks);
            }
        };
        pool.invoke(all);
    }

    @Override
    public void close() {
        if (pool != null && this != DEFAULT) pool.shutdown();
    }
}
