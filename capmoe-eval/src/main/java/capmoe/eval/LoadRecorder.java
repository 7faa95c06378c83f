package capmoe.eval;

import capmoe.routing.Routing;
import capmoe.routing.RoutingStats;
import capmoe.runtime.RoutingListener;

/**
 * Watches every MoE layer's routing during an evaluation and sums what the report needs: kept and
 * assigned (token, expert) pairs, the expert-level and device-level max/mean load per layer call,
 * and the most loaded device per layer call. Device loads are the router's own
 * ({@link RoutingStats#deviceLoadAfter()}: each pair on the device the layer's placement runs it
 * on, so a replicated expert's pairs are split between its replicas); without them (a routing
 * with no statistics) they are summed over a contiguous placement of {@code devices} devices.
 * Under expert parallelism a layer is as slow as its most loaded device, so the ratio of these
 * sums between two policies on the same workload bounds their EP speedup.
 */
public final class LoadRecorder implements RoutingListener {
    private final int devices;
    private long calls;
    private long keptPairs;
    private long assignedPairs;
    private long droppedPairs;
    private long addedPairs;
    private double sumMaxOverMean;
    private double sumDeviceMaxOverMean;
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
        if (stats != null) {
            droppedPairs += stats.droppedPairs();
            addedPairs += stats.addedPairs();
        } else {
            droppedPairs += Math.max(0, assigned - kept);
        }
        if (kept > 0) sumMaxOverMean += max / ((double) kept / experts);
        long[] device = stats != null && stats.deviceLoadAfter() != null && stats.deviceLoadAfter().length == devices
                ? toLong(stats.deviceLoadAfter()) : deviceLoads(after, devices);
        long maxDevice = 0;
        for (long l : device) maxDevice = Math.max(maxDevice, l);
        sumMaxDeviceLoad += maxDevice;
        if (kept > 0) sumDeviceMaxOverMean += maxDevice / ((double) kept / device.length);
    }

    private static long[] toLong(int[] a) {
        long[] l = new long[a.length];
        for (int i = 0; i < a.length; i++) l[i] = a[i];
        return l;
    }

    /** Each device's load when experts are placed in contiguous blocks (expert e on device e*d/E). */
    private static long[] deviceLoads(int[] expertLoad, int devices) {
        int experts = expertLoad.length;
        int d = Math.min(devices, experts);
        long[] load = new long[d];
        for (int e = 0; e < experts; e++) load[(int) ((long) e * d / experts)] += expertLoad[e];
        return load;
    }

    public synchronized void add(LoadRecorder other) {
        calls += other.calls;
        keptPairs += other.keptPairs;
        assignedPairs += other.assignedPairs;
        droppedPairs += other.droppedPairs;
        addedPairs += other.addedPairs;
        sumMaxOverMean += other.sumMaxOverMean;
        sumDeviceMaxOverMean += other.sumDeviceMaxOverMean;
        sumMaxDeviceLoad += other.sumMaxDeviceLoad;
    }

    public synchronized LoadSummary summary() {
        return new LoadSummary(calls, keptPairs, assignedPairs,
                assignedPairs == 0 ? 0 : (double) droppedPairs / assignedPairs,
                calls == 0 ? Double.NaN : sumMaxOverMean / calls, sumMaxDeviceLoad, devices,
                assignedPairs == 0 ? 0 : (double) addedPairs / assignedPairs, calls == 0 ? Double.NaN : sumDeviceMaxOverMean / calls);
    }

    /**
     * What the report shows per task and policy. One convention everywhere (as
     * {@link capmoe.runtime.ep.LayerRecord}): {@code droppedFraction} = top-k (token, expert) pairs
     * the policy removed / top-k pairs; {@code addedFraction} = pairs kept outside the top-k
     * (Expanded Drop's local experts) / top-k pairs. Neither is ever negative or n/a.
     * {@code meanMaxOverMeanLoad}: the busiest expert's kept pairs over the mean expert's, averaged
     * over layer calls; {@code meanDeviceMaxOverMean}: the same over devices (what replication
     * lowers; NaN when not recorded).
     */
    public record LoadSummary(long layerCalls, long keptPairs, long assignedPairs, double droppedFraction,
                              double meanMaxOverMeanLoad, long sumMaxDeviceLoad, int devices, double addedFraction,
                              double meanDeviceMaxOverMean) {

        /** No device max/mean recorded. */
        public LoadSummary(long layerCalls, long keptPairs, long assignedPairs, double droppedFraction,
                           double meanMaxOverMeanLoad, long sumMaxDeviceLoad, int devices, double addedFraction) {
            this(layerCalls, keptPairs, assignedPairs, droppedFraction, meanMaxOverMeanLoad, sumMaxDeviceLoad, devices, addedFraction,
                    Double.NaN);
        }

        /** No pairs added (every policy but Expanded Drop). */
        public LoadSummary(long layerCalls, long keptPairs, long assignedPairs, double droppedFraction,
                           double meanMaxOverMeanLoad, long sumMaxDeviceLoad, int devices) {
            this(layerCalls, keptPairs, assignedPairs, droppedFraction, meanMaxOverMeanLoad, sumMaxDeviceLoad, devices, 0);
        }
    }
}
