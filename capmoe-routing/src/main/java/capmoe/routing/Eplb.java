package capmoe.routing;

import java.util.Arrays;

/**
 * DeepSeek's Expert Parallelism Load Balancer (EPLB), the replication answer to stragglers that
 * vLLM ({@code --enable-eplb}) and SGLang deploy: give the heaviest experts redundant replicas,
 * then pack all replicas onto devices so that device loads are as even as possible. One MoE
 * layer at a time, from that layer's load per expert (e.g. top-k pairs counted over a routing trace).
 *
 * <p>Follows deepseek-ai/EPLB {@code eplb.py} (commit ff2cba52):
 * <ol>
 *   <li>{@link #replicate}: {@code replicate_experts} (L45-72): start with one replica per
 *       expert; each redundant replica goes to the expert with the largest load per replica,
 *       {@code argmax(weight / logcnt)} (ties: the lower expert id, as torch's max returns the first).</li>
 *   <li>{@link #pack}: {@code balanced_packing} (L5-42): replicas, each carrying
 *       {@code load / replica count}, sorted heaviest first (ties: lower replica index; torch's sort
 *       is not stable, so the Python code leaves ties open), each go to the lightest device that
 *       still has room (ties: the lower device id, as Python's {@code min} returns the first).
 *       With one replica per device it is the identity (L23-26).</li>
 * </ol>
 * This is the global policy. {@code rebalance_experts} (L132-163) runs the hierarchical policy
 * when the expert groups divide into nodes and the global one otherwise (L151-157); later
 * versions compute global as {@code rebalance_experts_hierarchical(weight, num_replicas, 1, 1,
 * num_gpus)} (commit 5791971), i.e. steps 1 and 2 above. capmoe's devices live on one node,
 * where the hierarchical policy's first step (pack expert groups onto nodes, L104-109) has a
 * single node to fill, so it computes the same placement up to the order ties are broken in.
 *
 * <p>One generalisation: EPLB requires the replica count to be a multiple of the device count
 * (L96, {@code assert num_physical_experts % num_gpus == 0}); here each device holds at most
 * {@code ceil(slots / devices)} replicas, which is EPLB's rule when the division is exact. So
 * {@code replicate@4} works on 8 devices with 32 experts (36 slots: at most 5 per device).
 */
public final class Eplb {
    private Eplb() { }

    /**
     * Step 1: logical expert of each replica slot for {@code slots} slots; slots 0..E-1 are the
     * experts themselves (replica 0), later slots the redundant replicas in the order chosen.
     */
    public static int[] replicate(double[] load, int slots) {
        int e = load.length;
        if (slots < e) throw new IllegalArgumentException("EPLB: " + slots + " replica slots for " + e + " experts (need at least one each)");
        int[] slotExpert = new int[slots];
        int[] count = new int[e];
        for (int i = 0; i < e; i++) {
            slotExpert[i] = i;
            count[i] = 1;
        }
        for (int s = e; s < slots; s++) {
            int best = 0;
            for (int i = 1; i < e; i++) if (load[i] / count[i] > load[best] / count[best]) best = i;
            slotExpert[s] = best;
            count[best]++;
        }
        return slotExpert;
    }

    /** Step 2: device of each item, at most ceil(n / devices) items per device, lightest device first. */
    public static int[] pack(double[] weight, int devices) {
        int n = weight.length;
        if (devices < 1) throw new IllegalArgumentException("EPLB: devices must be >= 1 (got " + devices + ")");
        int[] device = new int[n];
        if (n == devices) {
            for (int i = 0; i < n; i++) device[i] = i;
            return device;
        }
        int room = (n + devices - 1) / devices;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(weight[b], weight[a])); // stable: ties keep the lower index first
        double[] packWeight = new double[devices];
        int[] packItems = new int[devices];
        for (int item : order) {
            int best = -1;
            for (int d = 0; d < devices; d++) {
                if (packItems[d] < room && (best < 0 || packWeight[d] < packWeight[best])) best = d;
            }
            device[item] = best;
            packWeight[best] += weight[item];
            packItems[best]++;
        }
        return device;
    }

    /**
     * The placement of one layer: {@code redundant} extra replicas over {@code devices} devices
     * for the given load per expert (any non-negative unit: pairs, tokens, seconds). Every expert
     * keeps at least one replica; replica order per expert is EPLB's rank (replica 0 first).
     */
    public static Placement place(double[] load, int redundant, int devices) {
        if (load == null || load.length == 0) throw new IllegalArgumentException("EPLB: no expert loads");
        if (redundant < 0) throw new IllegalArgumentException("EPLB: redundant replicas must be >= 0 (got " + redundant + ")");
        for (int i = 0; i < load.length; i++) {
            if (!(load[i] >= 0) || Double.isInfinite(load[i])) throw new IllegalArgumentException("EPLB: load of expert " + i + " is " + load[i] + " (need a finite number >= 0)");
        }
        int e = load.length;
        int[] slotExpert = replicate(load, e + redundant);
        int[] count = new int[e];
        for (int x : slotExpert) count[x]++;
        double[] slotLoad = new double[slotExpert.length];
        for (int s = 0; s < slotExpert.length; s++) slotLoad[s] = load[slotExpert[s]] / count[slotExpert[s]];
        int[] slotDevice = pack(slotLoad, devices);
        int[][] replicaDevices = new int[e][];
        int[] fill = new int[e];
        for (int i = 0; i < e; i++) replicaDevices[i] = new int[count[i]];
        for (int s = 0; s < slotExpert.length; s++) replicaDevices[slotExpert[s]][fill[slotExpert[s]]++] = slotDevice[s];
        return Placement.replicated(devices, replicaDevices);
    }

    /** {@link #place(double[], int, int)} for integer loads (pairs counted over a trace). */
    public static Placement place(long[] load, int redundant, int devices) {
        double[] w = new double[load.length];
        for (int i = 0; i < w.length; i++) w[i] = load[i];
        return place(w, redundant, devices);
    }
}
