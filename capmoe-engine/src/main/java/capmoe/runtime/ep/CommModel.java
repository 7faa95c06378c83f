package capmoe.runtime.ep;

/**
 * The all-to-all communication term of an MoE layer, from the bytes each device sends and
 * receives. Dispatch sends a token's hidden state from its origin device to each of its kept
 * experts' devices (pairs whose expert sits on the origin device move nothing); combine sends the
 * expert output back the same way. Links are full duplex and every device has its own link of
 * {@code linkGbps}, so each phase takes max over devices of max(sent, received) / bandwidth, and
 * the layer pays both phases. Dropped pairs move nothing, which is part of what a capacity saves.
 *
 * @param linkGbps       per-device link bandwidth in gigabits per second (0 = no communication term)
 * @param bytesPerValue  bytes per activation value on the wire (2 = bf16, as EP systems send)
 */
public record CommModel(double linkGbps, int bytesPerValue) {

    public CommModel {
        if (!(linkGbps >= 0) || Double.isInfinite(linkGbps)) throw new IllegalArgumentException("--link-gbps must be >= 0 (got " + linkGbps + ")");
        if (bytesPerValue < 1) throw new IllegalArgumentException("bytes per value must be >= 1 (got " + bytesPerValue + ")");
    }

    /** Bytes of one direction of the all-to-all, per device. */
    public record Traffic(long[] sent, long[] received) {
        public long maxDirection() {
            long m = 0;
            for (int d = 0; d < sent.length; d++) m = Math.max(m, Math.max(sent[d], received[d]));
            return m;
        }

        public long total() {
            long s = 0;
            for (long v : sent) s += v;
            return s;
        }
    }

    /** Dispatch traffic for kept pairs; combine traffic is the same with directions swapped. */
    public Traffic dispatch(Devices devices, int tokens, int[] offsets, int[] expertIds, int hidden) {
        int d = devices.count();
        long[] sent = new long[d];
        long[] received = new long[d];
        long row = (long) hidden * bytesPerValue;
        for (int t = 0; t < tokens; t++) {
            int from = Devices.origin(t, tokens, d);
            for (int p = offsets[t]; p < offsets[t + 1]; p++) {
                int to = devices.placement().device(t, expertIds[p]); // the replica that runs the pair
                if (to == from) continue;
                sent[from] += row;
                received[to] += row;
            }
        }
        return new Traffic(sent, received);
    }

    /** Seconds for dispatch + combine of this traffic. */
    public double seconds(Traffic dispatch) {
        if (linkGbps == 0) return 0;
        double bytesPerSecond = linkGbps * 1e9 / 8;
        return 2 * dispatch.maxDirection() / bytesPerSecond;
    }
}
