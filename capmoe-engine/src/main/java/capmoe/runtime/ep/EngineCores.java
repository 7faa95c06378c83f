package capmoe.runtime.ep;

import capmoe.kernels.Parallel;

/** Core shares backed by the engine's kernel pool: a device's matmuls run on its own {@link Parallel}. */
public final class EngineCores {
    private EngineCores() { }

    /** A share of {@code threads} cores (1 = the device's worker thread alone). */
    public static CoreShare share(int threads) {
        Parallel pool = new Parallel(threads);
        return new CoreShare() {
            @Override public void run(Runnable work) { pool.run(work); }
            @Override public void close() { pool.close(); }
        };
    }

    /** Threads per device by default: PARALLEL splits the cores (at least one each); TIMED_SERIAL gives each device all of them. */
    public static int defaultThreads(EpMode mode, int devices) {
        int cores = Runtime.getRuntime().availableProcessors();
        return mode == EpMode.PARALLEL ? Math.max(1, cores / devices) : cores;
    }
}
