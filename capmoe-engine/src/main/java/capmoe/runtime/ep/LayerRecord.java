package capmoe.runtime.ep;

/**
 * One MoE layer call of one batch: loads before/after the capacity policy, per expert and per
 * device, and what it cost.
 */
public record LayerRecord(int batch, int layer, int[] expertLoadBefore, int[] expertLoadAfter,
                          int[] deviceLoadBefore, int[] deviceLoadAfter, LayerTiming timing) {

    /** The same loads with another timing (e.g. the call's median repeat). */
    public LayerRecord withTiming(LayerTiming t) {
        return new LayerRecord(batch, layer, expertLoadBefore, expertLoadAfter, deviceLoadBefore, deviceLoadAfter, t);
    }

    public long pairsBefore() { return sum(expertLoadBefore); }

    public long pairsAfter() { return sum(expertLoadAfter); }

    /** Fraction of the top-k pairs the policy removed (negative when Expanded Drop added more than it dropped). */
    public double droppedFraction() {
        long b = pairsBefore();
        return b == 0 ? 0 : 1.0 - (double) pairsAfter() / b;
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
