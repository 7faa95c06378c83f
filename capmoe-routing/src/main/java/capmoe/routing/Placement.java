package capmoe.routing;

import java.util.Arrays;

/**
 * Which device hosts each expert: {@code deviceOf[e]} in 0..devices-1. Under expert parallelism
 * the layer waits for its most loaded device, so loads are also reported per device.
 */
public record Placement(int experts, int devices, int[] deviceOf) {

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

    /** Number of experts on each device. */
    public int[] expertsPerDevice() {
        int[] n = new int[devices];
        for (int d : deviceOf) n[d]++;
        return n;
    }

    @Override public int[] deviceOf() { return deviceOf.clone(); }

    /** Device of one expert, without copying the map (hot path). */
    public int device(int expert) { return deviceOf[expert]; }

    @Override public boolean equals(Object o) {
        return o instanceof Placement p && p.experts == experts && p.devices == devices && Arrays.equals(p.deviceOf, deviceOf);
    }

    @Override public int hashCode() { return Arrays.hashCode(deviceOf) * 31 + devices; }

    @Override public String toString() { return "Placement[experts=" + experts + ", devices=" + devices + ", deviceOf=" + Arrays.toString(deviceOf) + "]"; }
}
