package capmoe.runtime.ep;

import capmoe.routing.Routing;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Collects a {@link LayerRecord} for every MoE layer call the executor runs. Batches are counted
 * by {@link #startBatch}; the loads before the policy come from the routing library's stats.
 */
public final class EpStats implements DeviceExpertExecutor.Observer {
    private final Devices devices;
    private final List<LayerRecord> records = Collections.synchronizedList(new ArrayList<>());
    private int batch = -1;

    public EpStats(Devices devices) {
        this.devices = devices;
    }

    /** Marks the start of a new batch; records until the next call carry its index. */
    public synchronized void startBatch() { batch++; }

    public List<LayerRecord> records() {
        synchronized (records) {
            return List.copyOf(records);
        }
    }

    /** Drops what was recorded so far (e.g. a warm-up batch). */
    public synchronized void clear() {
        records.clear();
        batch = -1;
    }

    @Override
    public void onLayer(Routing routing, LayerTiming timing) {
        int[] after = new int[routing.experts()];
        for (int p = 0; p < routing.offsets()[routing.tokens()]; p++) after[routing.expertIds()[p]]++;
        // without routing stats (a hand-made Routing) the loads before the policy are the loads seen
        int[] before = routing.stats() != null && routing.stats().loadBefore() != null
                ? routing.stats().loadBefore().clone() : after.clone();
        int b;
        synchronized (this) {
            b = Math.max(batch, 0);
        }
        // device loads after the policy: the Router's, which follow the layer's placement (replicas split an
        // expert's pairs); before: plain top-k on this layout's own placement, i.e. what none runs, so the
        // bound of a replicated policy compares with the unreplicated deployment
        boolean routed = routing.stats() != null && routing.stats().deviceLoadAfter() != null
                && routing.stats().deviceLoadAfter().length == devices.count();
        int[] deviceAfter = routed ? routing.stats().deviceLoadAfter().clone() : perDevice(after);
        records.add(routing.stats() == null
                ? new LayerRecord(b, timing.layer(), before, after, perDevice(before), deviceAfter, timing)
                : new LayerRecord(b, timing.layer(), before, after, perDevice(before), deviceAfter, timing,
                        routing.stats().droppedPairs(), routing.stats().addedPairs()));
    }

    int[] perDevice(int[] expertLoad) {
        int[] d = new int[devices.count()];
        for (int e = 0; e < expertLoad.length; e++) d[devices.deviceOf(e)] += expertLoad[e];
        return d;
    }

    /** Totals over every recorded layer call. */
    public Summary summary() {
        return Summary.of(records());
    }

    /**
     * Aggregates over layer calls.
     *
     * @param epSeconds           sum of the layers' EP time (critical path + communication)
     * @param criticalSeconds     sum of critical paths
     * @param commSeconds         sum of modelled communication
     * @param idleSeconds         sum over layers and devices of time spent waiting for the straggler
     * @param deviceSeconds       sum of all devices' compute
     * @param droppedFraction     dropped top-k pairs / top-k pairs ({@link LayerRecord})
     * @param maxOverMeanBefore   mean over layer calls of device max/mean load before the policy
     * @param maxOverMeanAfter    the same after the policy
     * @param maxDeviceLoadBefore sum over layer calls of the most loaded device's pairs, before
     * @param maxDeviceLoadAfter  the same after
     * @param addedFraction       pairs added outside the top-k (Expanded Drop) / top-k pairs
     */
    public record Summary(int layerCalls, double epSeconds, double criticalSeconds, double commSeconds,
                          double idleSeconds, double deviceSeconds, double droppedFraction,
                          double maxOverMeanBefore, double maxOverMeanAfter,
                          long maxDeviceLoadBefore, long maxDeviceLoadAfter, double addedFraction) {

        static Summary of(List<LayerRecord> list) {
            double ep = 0, crit = 0, comm = 0, idle = 0, dev = 0, mmB = 0, mmA = 0;
            long before = 0, dropped = 0, added = 0, maxB = 0, maxA = 0;
            for (LayerRecord r : list) {
                LayerTiming t = r.timing();
                ep += t.epSeconds();
                crit += t.criticalPathNanos() / 1e9;
                comm += t.commSeconds();
                idle += t.idleNanos() / 1e9;
                for (long v : t.deviceNanos()) dev += v / 1e9;
                before += r.pairsBefore();
                dropped += r.droppedPairs();
                added += r.addedPairs();
                mmB += r.deviceMaxOverMeanBefore();
                mmA += r.deviceMaxOverMeanAfter();
                maxB += LayerRecord.max(r.deviceLoadBefore());
                maxA += LayerRecord.max(r.deviceLoadAfter());
            }
            int n = list.size();
            return new Summary(n, ep, crit, comm, idle, dev, before == 0 ? 0 : (double) dropped / before,
                    n == 0 ? 0 : mmB / n, n == 0 ? 0 : mmA / n, maxB, maxA, before == 0 ? 0 : (double) added / before);
        }

        /** Mean EP time of one layer call. */
        public double epSecondsPerLayer() { return layerCalls == 0 ? 0 : epSeconds / layerCalls; }

        /**
         * Load-proportional bound on this policy's speedup over no capacity: the most loaded
         * device's pairs before over after (EP time follows the most loaded device).
         */
        public double speedupBound() { return maxDeviceLoadAfter == 0 ? Double.POSITIVE_INFINITY : (double) maxDeviceLoadBefore / maxDeviceLoadAfter; }
    }
}
