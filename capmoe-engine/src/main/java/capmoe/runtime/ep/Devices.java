package capmoe.runtime.ep;

import capmoe.routing.Placement;

import java.nio.file.Path;

/**
 * The devices of an expert-parallel deployment: which experts each owns (from a
 * {@link Placement}) and where each token comes from. Attention and the router are data-parallel,
 * so token t of a T-token batch originates on device t*D/T; its hidden state travels to the
 * devices of its experts (dispatch) and the weighted outputs travel back (combine).
 *
 * @param expertsOf      experts of each device, ascending
 * @param deviceOfExpert the placement's map, held here so the hot path does not copy it
 */
public record Devices(Placement placement, int[][] expertsOf, int[] deviceOfExpert) {

    public static Devices of(Placement placement) {
        int d = placement.devices();
        int[] n = new int[d];
        for (int e = 0; e < placement.experts(); e++) n[placement.deviceOf()[e]]++;
        int[][] of = new int[d][];
        for (int i = 0; i < d; i++) of[i] = new int[n[i]];
        int[] fill = new int[d];
        int[] map = placement.deviceOf();
        for (int e = 0; e < placement.experts(); e++) of[map[e]][fill[map[e]]++] = e;
        return new Devices(placement, of, map);
    }

    /** Contiguous blocks of experts (expert e on device floor(e*D/E)), the default placement. */
    public static Devices contiguous(int experts, int devices) {
        if (devices < 1 || devices > experts) {
            throw new IllegalArgumentException("devices must be in 1.." + experts + " for " + experts + " experts (got " + devices + ")");
        }
        int[] map = new int[experts];
        for (int e = 0; e < experts; e++) map[e] = (int) ((long) e * devices / experts);
        return of(new Placement(experts, devices, map));
    }

    /**
     * Reads a placement map file in {@link Placement#read}'s format (one device id per expert, in
     * expert order; that method names the file and line of any bad entry); its ids must be below
     * {@code devices}.
     */
    public static Devices read(Path file, int experts, int devices) {
        Placement read = Placement.read(file, experts);
        int[] map = new int[experts];
        for (int e = 0; e < experts; e++) {
            map[e] = read.device(e);
            if (map[e] >= devices) {
                throw new IllegalArgumentException("placement file " + file + ": expert " + e + " is on device " + map[e]
                        + ", outside 0.." + (devices - 1) + " (--devices " + devices + ")");
            }
        }
        return of(new Placement(experts, devices, map));
    }

    public int count() { return expertsOf.length; }

    public int experts() { return placement.experts(); }

    public int deviceOf(int expert) { return deviceOfExpert[expert]; }

    /** The data-parallel origin of token t in a batch of T tokens over D devices: t*D/T. */
    public static int origin(int t, int tokens, int devices) {
        return (int) ((long) t * devices / tokens);
    }
}
