package capmoe.routing;

/**
 * What a policy did to one routing call. Those of {@link Router#route} never change; one from
 * {@link Router#routeReusing} is its Router's own, refilled by its next such call (the ownership
 * is explained there).
 */
public final class RoutingStats {
    private int capacity;
    private int[] loadBefore, loadAfter, deviceLoadBefore, deviceLoadAfter;
    private long droppedPairs, addedPairs;
    private int tokensWithoutExperts;
    private double scoreBefore, scoreDropped;

    public RoutingStats(int capacity, int[] loadBefore, int[] loadAfter,
                        int[] deviceLoadBefore, int[] deviceLoadAfter,
                        long droppedPairs, long addedPairs, int tokensWithoutExperts,
                        double scoreBefore, double scoreDropped) {
        set(capacity, loadBefore, loadAfter, deviceLoadBefore, deviceLoadAfter, droppedPairs, addedPairs, tokensWithoutExperts,
                scoreBefore, scoreDropped);
    }

    /** Without the score masses (0). */
    public RoutingStats(int capacity, int[] loadBefore, int[] loadAfter, int[] deviceLoadBefore, int[] deviceLoadAfter,
                        long droppedPairs, long addedPairs, int tokensWithoutExperts) {
        this(capacity, loadBefore, loadAfter, deviceLoadBefore, deviceLoadAfter, droppedPairs, addedPairs, tokensWithoutExperts, 0, 0);
    }

    /** Every value anew, as the constructor sets them: for {@link Router#routeReusing}'s kept stats only. */
    void set(int capacity, int[] loadBefore, int[] loadAfter, int[] deviceLoadBefore, int[] deviceLoadAfter,
             long droppedPairs, long addedPairs, int tokensWithoutExperts, double scoreBefore, double scoreDropped) {
        this.capacity = capacity;
        this.loadBefore = loadBefore;
        this.loadAfter = loadAfter;
        this.deviceLoadBefore = deviceLoadBefore;
        this.deviceLoadAfter = deviceLoadAfter;
        this.droppedPairs = droppedPairs;
        this.addedPairs = addedPairs;
        this.tokensWithoutExperts = tokensWithoutExperts;
        this.scoreBefore = scoreBefore;
        this.scoreDropped = scoreDropped;
    }

    /** C = ceil(gamma*k*(T/E)) of the policy; for policies without a capacity ({@code none}, {@code expert_drop}) the balanced load ceil(k*T/E), i.e. C at gamma = 1. */
    public int capacity() { return capacity; }
    /** (token, expert) pairs per expert under plain top-k routing. */
    public int[] loadBefore() { return loadBefore; }
    /** Kept pairs per expert after the policy. */
    public int[] loadAfter() { return loadAfter; }
    /** {@link #loadBefore} summed per device of the placement. */
    public int[] deviceLoadBefore() { return deviceLoadBefore; }
    /** {@link #loadAfter} summed per device. */
    public int[] deviceLoadAfter() { return deviceLoadAfter; }
    /** Top-k pairs the policy removed. */
    public long droppedPairs() { return droppedPairs; }
    /** Kept pairs that were not in the token's top-k (Expanded Drop extras). */
    public long addedPairs() { return addedPairs; }
    /** Tokens left with no expert at all (only the residual carries them). */
    public int tokensWithoutExperts() { return tokensWithoutExperts; }
    /** Gate-score mass of the top-k pairs (sum of their unbiased gate scores). */
    public double scoreBefore() { return scoreBefore; }
    /** Gate-score mass of the top-k pairs the policy removed. */
    public double scoreDropped() { return scoreDropped; }

    /** scoreDropped / scoreBefore: the share of the gate-score mass the policy dropped; 0 for an empty call. */
    public double droppedScoreFraction() {
        return scoreBefore == 0 ? 0 : scoreDropped / scoreBefore;
    }

    /** Pairs under plain top-k: T * k. */
    public long pairsBefore() { return sum(loadBefore); }

    /** Pairs kept by the policy. */
    public long pairsAfter() { return sum(loadAfter); }

    /** droppedPairs / (T*k); 0 for an empty call. */
    public double droppedFraction() {
        long before = pairsBefore();
        return before == 0 ? 0 : (double) droppedPairs / before;
    }

    public int maxExpertLoadBefore() { return max(loadBefore); }
    public int maxExpertLoadAfter() { return max(loadAfter); }
    public int maxDeviceLoadBefore() { return max(deviceLoadBefore); }
    public int maxDeviceLoadAfter() { return max(deviceLoadAfter); }

    /** Max over mean expert load under plain top-k (1 = perfectly balanced). */
    public double expertImbalanceBefore() { return maxOverMean(loadBefore); }
    public double expertImbalanceAfter() { return maxOverMean(loadAfter); }
    public double deviceImbalanceBefore() { return maxOverMean(deviceLoadBefore); }
    public double deviceImbalanceAfter() { return maxOverMean(deviceLoadAfter); }

    /**
     * Upper bound on the expert-parallel speedup of the MoE layer: its time is proportional to the
     * most loaded device's load, so the bound is maxDeviceLoadBefore / maxDeviceLoadAfter
     * (1 when nothing changed; infinite when the policy removed every pair).
     */
    public double speedupBound() {
        int before = maxDeviceLoadBefore(), after = maxDeviceLoadAfter();
        if (after == 0) return before == 0 ? 1.0 : Double.POSITIVE_INFINITY;
        return (double) before / after;
    }

    /** max(load) / mean(load); 0 for an all-zero load. */
    public static double maxOverMean(int[] load) {
        long s = sum(load);
        return s == 0 ? 0 : (double) max(load) * load.length / s;
    }

    private static long sum(int[] a) {
        long s = 0;
        for (int v : a) s += v;
        return s;
    }

    private static int max(int[] a) {
        int m = 0;
        for (int v : a) m = Math.max(m, v);
        return m;
    }
}
