package capmoe.runtime.ep;

import capmoe.routing.Placement;

import java.io.IOException;
import java.nio.file.Files;
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
     * Reads a placement map file: one device id per expert, in expert order, separated by commas,
     * spaces or newlines; '#' starts a comment. Its device count must be {@code devices}.
     */
    public static Devices read(Path file, int experts, int devices) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("placement file " + file + ": cannot read (" + e.getMessage() + ")");
        }
        StringBuilder clean = new StringBuilder();
        for (String line : text.split("\n")) {
            int hash = line.indexOf('#');
            clean.append(hash >= 0 ? line.substring(0, hash) : line).append(' ');
        }
        String[] items = clean.toString().strip().split("[,\\s]+");
        if (items.length == 1 && items[0].isEmpty()) throw new IllegalArgumentException("placement file " + file + " is empty");
        if (items.length != experts) {
            throw new IllegalArgumentException("placement file " + file + " lists " + items.length + " device ids but the model has "
                    + experts + " experts (one id per expert)");
        }
        int[] map = new int[experts];
        for (int e = 0; e < experts; e++) {
            try {
                map[e] = Integer.parseInt(items[e]);
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("placement file " + file + ": entry " + e + " ('" + items[e] + "') is not a device id");
            }
            if (map[e] < 0 || map[e] >= devices) {
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
