package capmoe.routing;

import java.util.Arrays;

/**
 * Which devices host each expert. Without replication every expert has one device,
 * {@code deviceOf[e]} in 0..devices-1. With replication ({@link Eplb}) expert e has
 * {@code replicaDevices[e].length} replicas, {@code replicaDevices[e][0] == deviceOf[e]}, and a
 * (token, expert) pair runs on one of them, chosen by {@link #device(int, int)}. Under expert
 * parallelism the layer waits for its most loaded device, so loads are also reported per device.
 *
 * <p>The replica rule (state it once, here): token t's pair with expert e runs on replica
 * {@code t mod r_e}, i.e. round-robin by token index, as vLLM picks a replica by position modulo the
 * replica count (vllm/model_executor/layers/fused_moe/router/base_router.py,
 * {@code eplb_map_to_physical_and_record}: {@code pos_indices % replica_count}). It depends on the
 * pair alone, so the router, the simulator and the runtime's dispatch agree without sharing state.
 */
public record Placement(int experts, int devices, int[] deviceOf, int[][] replicaDevices) {

    public Placement {
        if (experts < 1) throw new IllegalArgumentException("placement: experts must be >= 1 (got " + experts + ")");
        if (devices < 1) throw new IllegalArgumentException("placement: devices must be >= 1 (got " + devices + ")");
        if (deviceOf == null || deviceOf.length != experts) {
            throw new IllegalArgumentException("placement: the map has " + (deviceOf == null ? 0 : deviceOf.length)
                    + " entries but there are " + experts + " experts (one device id per expert)");
        }
        deviceOf = deviceOf.clone();
        for (int e = 0; e < experts; e++) {
            if (deviceOf[e] < 0 || deviceOf[e] >= devices) {
                throw new IllegalArgumentException("placement: expert " + e + " is on device " + deviceOf[e]
                        + ", outside 0.." + (devices - 1));
            }
        }
        if (replicaDevices == null) {
            replicaDevices = new int[experts][];
            for (int e = 0; e < experts; e++) replicaDevices[e] = new int[] {deviceOf[e]};
        } else {
            if (replicaDevices.length != experts) {
                throw new IllegalArgumentException("placement: replicas given for " + replicaDevices.length + " experts, not " + experts);
            }
            int[][] copy = new int[experts][];
            for (int e = 0; e < experts; e++) {
                int[] r = replicaDevices[e];
                if (r == null || r.length == 0) throw new IllegalArgumentException("placement: expert " + e + " has no replica (every expert runs somewhere)");
                if (r[0] != deviceOf[e]) {
                    throw new IllegalArgumentException("placement: expert " + e + "'s first replica is on device " + r[0] + ", its home device is " + deviceOf[e]);
                }
                for (int d : r) {
                    if (d < 0 || d >= devices) throw new IllegalArgumentException("placement: a replica of expert " + e + " is on device " + d + ", outside 0.." + (devices - 1));
                }
                copy[e] = r.clone();
            }
            replicaDevices = copy;
        }
    }

    /** Each expert once, on {@code deviceOf[e]}. */
    public Placement(int experts, int devices, int[] deviceOf) { this(experts, devices, deviceOf, null); }

    /**
     * A replicated placement: {@code replicaDevices[e]} lists the devices of expert e's replicas
     * in replica order (replica 0 is its home device, {@link #deviceOf}).
     */
    public static Placement replicated(int devices, int[][] replicaDevices) {
        int[] home = new int[replicaDevices.length];
        for (int e = 0; e < home.length; e++) {
            if (replicaDevices[e] == null || replicaDevices[e].length == 0) throw new IllegalArgumentException("placement: expert " + e + " has no replica (every expert runs somewhere)");
            home[e] = replicaDevices[e][0];
        }
        return new Placement(replicaDevices.length, devices, home, replicaDevices);
    }

    /**
     * Contiguous blocks: experts 0..E/D-1 on device 0, and so on. When D does not divide E,
     * expert e goes to device floor(e*D/E), so block sizes differ by at most one.
     */
    public static Placement contiguous(int experts, int devices) {
        if (experts < 1) throw new IllegalArgumentException("placement: experts must be >= 1 (got " + experts + ")");
        if (devices < 1 || devices > experts) {
            throw new IllegalArgumentException("placement: devices must be in 1.." + experts + " for " + experts
                    + " experts (got " + devices + ")");
        }
        int[] map = new int[experts];
        for (int e = 0; e < experts; e++) map[e] = (int) ((long) e * devices / experts);
        return new Placement(experts, devices, map);
    }

    /** An explicit map; the device count is the largest id + 1. */
    public static Placement of(int... deviceOf) {
        if (deviceOf == null || deviceOf.length == 0) throw new IllegalArgumentException("placement: empty device map");
        int max = 0;
        for (int d : deviceOf) max = Math.max(max, d);
        return new Placement(deviceOf.length, max + 1, deviceOf);
    }

    /**
     * Parses {@code contiguous:D} (or just {@code D}) or an explicit comma-separated device id
     * per expert ({@code 0,0,1,1,2,2,3,3}) and checks it against E.
     */
    public static Placement parse(String spec, int experts) {
        if (spec == null || spec.isBlank()) throw new IllegalArgumentException("placement: empty spec; expected contiguous:D or a device id per expert");
        String s = spec.strip();
        try {
            if (s.startsWith("contiguous:")) return contiguous(experts, Integer.parseInt(s.substring(11).strip()));
            if (!s.contains(",")) return contiguous(experts, Integer.parseInt(s));
            String[] items = s.split(",", -1);
            int[] map = new int[items.length];
            for (int i = 0; i < items.length; i++) map[i] = Integer.parseInt(items[i].strip());
            Placement p = of(map);
            if (p.experts() != experts) {
                throw new IllegalArgumentException("placement '" + s + "' lists " + p.experts() + " experts but the router has " + experts);
            }
            return p;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("placement '" + s + "': not a number (" + e.getMessage()
                    + "); expected contiguous:D or a device id per expert like 0,0,1,1");
        }
    }

    /**
     * Reads an explicit map from a text file: one device id per expert, in expert order,
     * separated by commas, spaces or newlines; {@code #} starts a comment. Checked against E.
     */
    public static Placement read(java.nio.file.Path file, int experts) {
        java.util.List<String> lines;
        try {
            lines = java.nio.file.Files.readAllLines(file);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalArgumentException("placement file " + file + ": no such file");
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalArgumentException("placement file " + file + " is not UTF-8 text (a binary file?)");
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("placement file " + file + ": cannot read: " + e.getMessage());
        }
        int[] map = new int[experts];
        int n = 0;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            int hash = line.indexOf('#');
            if (hash >= 0) line = line.substring(0, hash);
            for (String item : line.split("[,\\s]+")) {
                if (item.isEmpty()) continue;
                int d;
                try {
                    d = Integer.parseInt(item);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("placement file " + file + ", line " + (i + 1) + ": '" + item + "' is not a device id");
                }
                if (n == experts) {
                    throw new IllegalArgumentException("placement file " + file + ", line " + (i + 1) + ": more than the " + experts + " expected device ids (one per expert)");
                }
                map[n++] = d;
            }
        }
        if (n != experts) {
            throw new IllegalArgumentException("placement file " + file + " lists " + n + " experts but the router has " + experts);
        }
        int devices = 0;
        for (int d : map) devices = Math.max(devices, d + 1);
        try {
            return new Placement(experts, Math.max(devices, 1), map);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("placement file " + file + ": " + e.getMessage());
        }
    }

    /** Expert slots (replicas) on each device; without replication, the number of experts on each device. */
    public int[] expertsPerDevice() {
        int[] n = new int[devices];
        for (int[] r : replicaDevices) for (int d : r) n[d]++;
        return n;
    }

    /** Whether some expert has more than one replica. */
    public boolean replicated() { return redundantSlots() > 0; }

    /** Replicas beyond one per expert, over all devices. */
    public int redundantSlots() {
        int n = 0;
        for (int[] r : replicaDevices) n += r.length - 1;
        return n;
    }

    /** Number of replicas of expert e (1 without replication). */
    public int replicas(int expert) { return replicaDevices[expert].length; }

    /**
     * The device that runs token t's pair with expert e: replica {@code t mod r_e} (the rule stated
     * on this class); the expert's only device without replication. Hot path: no copy.
     */
    public int device(int token, int expert) {
        int[] r = replicaDevices[expert];
        return r.length == 1 ? r[0] : r[Math.floorMod(token, r.length)];
    }

    /**
     * Extra expert slots on the fullest device compared with the same experts spread without
     * replicas ({@code ceil(E/D)} per device): times one expert's weight bytes, the extra memory
     * a device needs for replication.
     */
    public int extraSlotsPerDevice() {
        int max = 0;
        for (int n : expertsPerDevice()) max = Math.max(max, n);
        return Math.max(0, max - (experts + devices - 1) / devices);
    }

    @Override public int[] deviceOf() { return deviceOf.clone(); }

    @Override public int[][] replicaDevices() {
        int[][] out = new int[experts][];
        for (int e = 0; e < experts; e++) out[e] = replicaDevices[e].clone();
        return out;
    }

    /** Home device of one expert (its first replica), without copying the map (hot path). */
    public int device(int expert) { return deviceOf[expert]; }

    @Override public boolean equals(Object o) {
        return o instanceof Placement p && p.experts == experts && p.devices == devices && Arrays.equals(p.deviceOf, deviceOf)
                && Arrays.deepEquals(p.replicaDevices, replicaDevices);
    }

    @Override public int hashCode() { return Arrays.hashCode(deviceOf) * 31 + devices; }

    @Override public String toString() {
        return "Placement[experts=" + experts + ", devices=" + devices + ", deviceOf=" + Arrays.toString(deviceOf)
                + (replicated() ? ", replicaDevices=" + Arrays.deepToString(replicaDevices) : "") + "]";
    }
}
