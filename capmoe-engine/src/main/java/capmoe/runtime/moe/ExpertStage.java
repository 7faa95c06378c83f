package capmoe.runtime.moe;

import capmoe.routing.Placement;
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
     * One device's share under replication ({@link Placement#replicated()}): every expert with a
     * replica on {@code device} runs on the rows of its slots whose token the placement sends to
     * this device ({@link Placement#device(int, int)}: replica {@code t mod r}); outputs go into
     * {@code y} at those slots, so {@link Combine#all} adds them in the usual order.
     * <ol>
     *   <li>collect the device's slots, expert by expert of {@code list} (ascending), tokens ascending;</li>
     *   <li>{@link Dispatch#select} makes them a dispatch of their own;</li>
     *   <li>{@link Experts#runAll} runs it: the experts' grouped kernels, as an unreplicated device;</li>
     *   <li>each output row goes to its slot of {@code y}.</li>
     * </ol>
     * A row's result does not depend on the rows beside it ({@link capmoe.kernels.MatMul}, and
     * runAll gives the bits of {@link Experts#apply}), so splitting an expert's rows between
     * replicas changes no bit.
     */
    public static void runReplicas(Experts experts, Dispatch d, Placement placement, int device, int[] list, float[] x, float[] y) {
        int h = experts.hidden(), total = 0;
        for (int e : list) total += d.rows(e);
        int[] slots = new int[total];
        int n = 0;
        for (int e : list) {
            for (int s = d.start(e); s < d.start(e) + d.rows(e); s++) if (placement.device(d.token(s), e) == device) slots[n++] = s;
        }
        if (n == 0) return;
        float[] out = new float[n * h];
        experts.runAll(d.select(slots, n), list, x, out);
        for (int r = 0; r < n; r++) System.arraycopy(out, r * h, y, slots[r] * h, h);
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
