package capmoe.runtime.moe;

import capmoe.runtime.Experts;

/**
 * The Experts stage: each expert runs once on its gathered rows ({@link Experts#apply}, a
 * grouped matmul over the rows {@link Dispatch} put together). Which experts a caller runs is
 * its share: all of them (local), a device's (in-JVM devices), a rank's (MPI).
 */
public final class ExpertStage {
    private ExpertStage() { }

    /**
     * Runs expert e on its rows of x [tokens x h]: gathers them into {@code in} and writes the
     * expert's outputs to {@code y[0 .. rows(e)*h)}. in, y: scratch of at least rows(e) x h.
     */
    public static void apply(Experts experts, Dispatch d, int e, float[] x, float[] in, float[] y) {
        int rows = d.rows(e);
        if (rows == 0) return;
        d.gather(e, x, experts.hidden(), in);
        experts.apply(e, in, y, rows);
    }

    /**
     * Runs each expert of {@code list} and writes its outputs into {@code y} at its slots (y is
     * [P x h] in slot order, the buffer {@link Combine#all} reads), through
     * {@link Experts#runAll}: the experts' own grouped implementation where they have one.
     */
    public static void run(Experts experts, Dispatch d, int[] list, float[] x, float[] y) {
        experts.runAll(d, list, x, y);
    }
}
