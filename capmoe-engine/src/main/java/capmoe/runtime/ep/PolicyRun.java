package capmoe.runtime.ep;

import java.util.List;

/** Everything measured for one policy in an EP benchmark: its label and its layer records. */
public record PolicyRun(String policy, List<LayerRecord> records) {

    public EpStats.Summary summary() { return EpStats.Summary.of(records); }

    /** Sorted distinct layer indices. */
    public int[] layers() {
        return records.stream().mapToInt(LayerRecord::layer).distinct().sorted().toArray();
    }

    /** Pairs per expert of one layer summed over batches, before (after = false) or after the policy. */
    public long[] expertLoad(int layer, boolean after) {
        long[] sum = null;
        for (LayerRecord r : records) {
            if (r.layer() != layer) continue;
            int[] l = after ? r.expertLoadAfter() : r.expertLoadBefore();
            if (sum == null) sum = new long[l.length];
            for (int e = 0; e < l.length; e++) sum[e] += l[e];
        }
        return sum == null ? new long[0] : sum;
    }

    /** Compute seconds of each device for one layer, summed over batches. */
    public double[] deviceSeconds(int layer) {
        double[] sum = null;
        for (LayerRecord r : records) {
            if (r.layer() != layer) continue;
            long[] n = r.timing().deviceNanos();
            if (sum == null) sum = new double[n.length];
            for (int d = 0; d < n.length; d++) sum[d] += n[d] / 1e9;
        }
        return sum == null ? new double[0] : sum;
    }

    /** Critical-path seconds of one layer, summed over batches. */
    public double criticalSeconds(int layer) {
        double s = 0;
        for (LayerRecord r : records) if (r.layer() == layer) s += r.timing().criticalPathNanos() / 1e9;
        return s;
    }
}
