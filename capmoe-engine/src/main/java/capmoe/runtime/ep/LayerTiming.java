package capmoe.runtime.ep;

/**
 * What one MoE layer call cost under expert parallelism.
 *
 * @param deviceNanos   compute time of each device (gather + its experts' matmuls), measured
 * @param wallNanos     PARALLEL: measured wall time from dispatch to the barrier; TIMED_SERIAL: the
 *                      sum of the device times (what one machine actually spent)
 * @param devicePairs   kept (token, expert) pairs each device computed
 * @param dispatchBytes bytes of the dispatch all-to-all summed over devices (combine moves as many)
 * @param commSeconds   modelled dispatch + combine time ({@link CommModel})
 */
public record LayerTiming(int layer, EpMode mode, int tokens, long[] deviceNanos, long wallNanos,
                          int[] devicePairs, long dispatchBytes, double commSeconds) {

    /**
     * The layer's compute time under EP: what the slowest device costs everybody. Measured wall
     * time in PARALLEL mode (it includes the barrier), the slowest device in TIMED_SERIAL mode.
     */
    public long criticalPathNanos() {
        return mode == EpMode.PARALLEL ? wallNanos : maxDeviceNanos();
    }

    public long maxDeviceNanos() {
        long m = 0;
        for (long v : deviceNanos) m = Math.max(m, v);
        return m;
    }

    /** The device everyone waits for. */
    public int straggler() {
        int s = 0;
        for (int d = 1; d < deviceNanos.length; d++) if (deviceNanos[d] > deviceNanos[s]) s = d;
        return s;
    }

    /** Time the other devices sit idle waiting for the critical path: the straggler cost. */
    public long idleNanos() {
        long crit = criticalPathNanos();
        long idle = 0;
        for (long v : deviceNanos) idle += Math.max(0, crit - v);
        return idle;
    }

    /** The layer's EP time: critical path plus modelled communication, in seconds. */
    public double epSeconds() {
        return criticalPathNanos() / 1e9 + commSeconds;
    }
}
