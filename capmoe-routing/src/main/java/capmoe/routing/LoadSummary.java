package capmoe.routing;

/**
 * The statistics of many routing calls of one policy (every layer of a model, every batch),
 * summed. Layer times add up, so the speedup bound over calls is
 * sum(max device load before) / sum(max device load after).
 */
public final class LoadSummary {
    private final String label;
    private long calls, tokens, pairsBefore, pairsAfter, dropped, added, tokensWithoutExperts;
    private long sumMaxDeviceBefore, sumMaxDeviceAfter;
    private double scoreBefore, scoreDropped;
    private double sumExpertImbalanceBefore, sumExpertImbalanceAfter, sumDeviceImbalanceBefore, sumDeviceImbalanceAfter;
    private int minCapacity = Integer.MAX_VALUE, maxCapacity = Integer.MIN_VALUE;

    public LoadSummary(String label) { this.label = label; }

    public void add(Routing r) {
        RoutingStats s = r.stats();
        calls++;
        tokens += r.tokens();
        pairsBefore += s.pairsBefore();
        pairsAfter += s.pairsAfter();
        dropped += s.droppedPairs();
        added += s.addedPairs();
        tokensWithoutExperts += s.tokensWithoutExperts();
        scoreBefore += s.scoreBefore();
        scoreDropped += s.scoreDropped();
        sumMaxDeviceBefore += s.maxDeviceLoadBefore();
        sumMaxDeviceAfter += s.maxDeviceLoadAfter();
        sumExpertImbalanceBefore += s.expertImbalanceBefore();
        sumExpertImbalanceAfter += s.expertImbalanceAfter();
        sumDeviceImbalanceBefore += s.deviceImbalanceBefore();
        sumDeviceImbalanceAfter += s.deviceImbalanceAfter();
        minCapacity = Math.min(minCapacity, s.capacity());
        maxCapacity = Math.max(maxCapacity, s.capacity());
    }

    public String label() { return label; }
    public long calls() { return calls; }
    public long tokens() { return tokens; }
    public long pairsBefore() { return pairsBefore; }
    public long pairsAfter() { return pairsAfter; }
    public long droppedPairs() { return dropped; }
    public long addedPairs() { return added; }
    public long tokensWithoutExperts() { return tokensWithoutExperts; }
    /** Smallest and largest C seen (they differ when calls have different token counts). */
    public int minCapacity() { return minCapacity; }
    public int maxCapacity() { return maxCapacity; }

    public double droppedFraction() { return pairsBefore == 0 ? 0 : (double) dropped / pairsBefore; }
    /** Dropped gate-score mass over all calls / the top-k mass of all calls. */
    public double droppedScoreFraction() { return scoreBefore == 0 ? 0 : scoreDropped / scoreBefore; }
    public double meanExpertImbalanceBefore() { return mean(sumExpertImbalanceBefore); }
    public double meanExpertImbalanceAfter() { return mean(sumExpertImbalanceAfter); }
    public double meanDeviceImbalanceBefore() { return mean(sumDeviceImbalanceBefore); }
    public double meanDeviceImbalanceAfter() { return mean(sumDeviceImbalanceAfter); }

    /** sum over calls of max device load before / after: the bound on the MoE layers' EP speedup. */
    public double speedupBound() {
        if (sumMaxDeviceAfter == 0) return sumMaxDeviceBefore == 0 ? 1.0 : Double.POSITIVE_INFINITY;
        return (double) sumMaxDeviceBefore / sumMaxDeviceAfter;
    }

    private double mean(double sum) { return calls == 0 ? 0 : sum / calls; }
}
