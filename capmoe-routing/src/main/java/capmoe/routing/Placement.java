package capmoe.routing;

/** Which device hosts each expert: {@code deviceOf[e]} in 0..devices-1. */
public record Placement(int experts, int devices, int[] deviceOf) {

    /** Contiguous blocks: experts 0..E/D-1 on device 0, and so on. */
    public static Placement contiguous(int experts, int devices) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
