package capmoe.runtime.ep;

/**
 * One MoE layer call of one batch: loads before/after the capacity policy, per expert and per
 * device, what it cost, and the pairs the policy dropped and added.
 *
 * <p>One convention for dropped and added pairs everywhere (console, JSON, reports): dropped =
 * top-k (token, expert) pairs the policy removed, added = pairs outside the token's top-k that it
 * kept (Expanded Drop's local experts); both as fractions of the top-k pairs, never negative.
 *
 * @param droppedPairs top-k pairs removed ({@link capmoe.routing.RoutingStats#droppedPairs})
 * @param addedPairs   kept pairs that were not in the top-k ({@link capmoe.routing.RoutingStats#addedPairs})
 */
public record LayerRecord(int batch, int layer, int[] expertLoadBefore, int[] expertLoadAfter,
                          int[] deviceLoadBefore, int[] deviceLoadAfter, LayerTiming timing,
                          long droppedPairs, long addedPairs) {

    /** Dropped and added pairs read off the loads (exact unless one expert both lost and gained pairs). */
    public LayerRecord(int batch, int layer, int[] expertLoadBefore, int[] expertLoadAfter,
                       int[] deviceLoadBefore, int[] deviceLoadAfter, LayerTiming timing) {
        this(batch, layer, expertLoadBefore, expertLoadAfter, deviceLoadBefore, deviceLoadAfter, timing,
                difference(expertLoadBefore, expertLoadAfter), difference(expertLoadAfter, expertLoadBefore));
    }

    /** The same loads with another timing (e.g. the call's median repeat). */
    public LayerRecord withTiming(LayerTiming t) {
        return new LayerRecord(batch, layer, expertLoadBefore, expertLoadAfter, deviceLoadBefore, deviceLoadAfter, t,
                droppedPairs, addedPairs);
    }

    /** Sum over experts of max(0, a - b). */
    static long difference(int[] a, int[] b) {
        long d = 0;
        for (int e = 0; e < a.length; e++) d += Math.max(0, a[e] - (e < b.length ? b[e] : 0));
        return d;
    }

    public long pairsBefore() { return sum(expertLoadBefore); }

    public long pairsAfter() { return sum(expertLoadAfter); }

    /** Dropped top-k pairs / top-k pairs. */
    public double droppedFraction() {
        long b = pairsBefore();
        return b == 0 ? 0 : (double) droppedPairs / b;
    }

    /** Added pairs (outside the top-k) / top-k pairs. */
    public double addedFraction() {
        long b = pairsBefore();
        return b == 0 ? 0 : (double) addedPairs / b;
    }

    public double deviceMaxOverMeanBefore() { return maxOverMean(deviceLoadBefore); }

    public double deviceMaxOverMeanAfter() { return maxOverMean(deviceLoadAfter); }

    public double expertMaxOverMeanBefore() { return maxOverMean(expertLoadBefore); }

    public double expertMaxOverMeanAfter() { return maxOverMean(expertLoadAfter); }

    static double maxOverMean(int[] load) {
        long s = sum(load);
        return s == 0 ? 0 : (double) max(load) * load.length / s;
    }

    static long sum(int[] a) {
        long s = 0;
        for (int v : a) s += v;
        return s;
    }

    static int max(int[] a) {
        int m = 0;
        for (int v : a) m = Math.max(m, v);
        return m;
    }
}
