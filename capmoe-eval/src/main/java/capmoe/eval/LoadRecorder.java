package capmoe.eval;

import capmoe.routing.Routing;
import capmoe.routing.RoutingStats;
import capmoe.runtime.RoutingListener;

/**
 * Watches every MoE layer's routing during an evaluation and sums what the report needs: kept and
 * assigned (token, expert) pairs, the expert-level max/mean load per layer call, and the most
 * loaded device per layer call under a contiguous placement over {@code devices} devices. Under
 * expert parallelism a layer is as slow as its most loaded device, so the ratio of these sums
 * between two policies on the same workload bounds their EP speedup.
 */
public final class LoadRecorder implements RoutingListener {
    private final int devices;
    private long calls;
    private long keptPairs;
    private long assignedPairs;
    private double sumMaxOverMean;
    private long sumMaxDeviceLoad;

    public LoadRecorder(int devices) {
        if (devices < 1) throw new IllegalArgumentException("devices must be >= 1, got " + devices);
        this.devices = devices;
    }

    @Override
    public synchronized void onRouting(int layer, Routing routing) {
        int experts = routing.experts();
        int[] after = new int[experts];
        RoutingStats stats = routing.stats();
        if (stats != null && stats.loadAfter() != null) {
            System.arraycopy(stats.loadAfter(), 0, after, 0, experts);
        } else {
            for (int e : routing.expertIds()) after[e]++;
        }
        long kept = 0;
        int max = 0;
        for (int e = 0; e < experts; e++) {
            kept += after[e];
            max = Math.max(max, after[e]);
        }
        long assigned = kept;
        if (stats != null && stats.loadBefore() != null) {
            assigned = 0;
            for (int l : stats.loadBefore()) assigned += l;
        }
        calls++;
        keptPairs += kept;
        assignedPairs += assigned;
        if (kept > 0) sumMaxOverMean += max / ((double) kept / experts);
        sumMaxDeviceLoad += maxDeviceLoad(after, devices);
    }

    /** Load of the busiest device when experts are placed in contiguous blocks (experts*d/devices ...). */
    static long maxDeviceLoad(int[] expertLoad, int devices) {
        int experts = expertLoad.length;
        int d = Math.min(devices, experts);
        long[] load = new long[d];
        for (int e = 0; e < experts; e++) load[(int) ((long) e * d / experts)] += expertLoad[e];
        long max = 0;
        for (long l : load) max = Math.max(max, l);
        return max;
    }

    public synchronized void add(LoadRecorder other) {
        calls += other.calls;
        keptPairs += other.keptPairs;
        assignedPairs += other.assignedPairs;
        sumMaxOverMean += other.sumMaxOverMean;
        sumMaxDeviceLoad += other.sumMaxDeviceLoad;
    }

    public synchronized LoadSummary summary() {
        return new LoadSummary(calls, keptPairs, assignedPairs,
                assignedPairs == 0 ? 0 : 1.0 - (double) keptPairs / assignedPairs,
                calls == 0 ? Double.NaN : sumMaxOverMean / calls, sumMaxDeviceLoad, devices);
    }

    /**
     * What the report shows per task and policy. {@code droppedFraction} = 1 - kept/assigned
     * top-k pairs; NaN for Expanded Drop, whose kept pairs include added local experts, so no
     * fraction of the top-k is dropped in a meaningful sense (the reference reports null too).
     */
    public record LoadSummary(long layerCalls, long keptPairs, long assignedPairs, double droppedFraction,
                              double meanMaxOverMeanLoad, long sumMaxDeviceLoad, int devices) {

        public LoadSummary withoutDroppedFraction() {
            return new LoadSummary(layerCalls, keptPairs, assignedPairs, Double.NaN, meanMaxOverMeanLoad,
                    sumMaxDeviceLoad, devices);
        }
    }
}
