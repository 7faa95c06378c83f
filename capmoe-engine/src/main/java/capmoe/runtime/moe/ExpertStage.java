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
     * this device ({@link Placement#device(int, int)}: replica {@code t mod r}), gathered in slot
     * order; outputs go into {@code y} at those slots, so {@link Combine#all} adds them in the
     * usual order. A row's result does not depend on the rows beside it
     * ({@link capmoe.kernels.MatMul}), so splitting an expert's rows between replicas changes no bit.
     *
     * <p>Scratch: {@code slots} [rows of the largest group]: the slots this device runs for the
     * current expert; {@code in}, {@code out} [that many x h]: their gathered inputs and outputs.
     */
    public static void runReplicas(Experts experts, Dispatch d, Placement placement, int device, int[] list, float[] x, float[] y) {
        int h = experts.hidden(), max = d.maxRows(list);
        int[] slots = new int[max];
        float[] in = new float[max * h];
        float[] out = new float[max * h];
        for (int e : list) {
            int n = 0;
            for (int s = d.start(e); s < d.start(e) + d.rows(e); s++) if (placement.device(d.token(s), e) == device) slots[n++] = s;
            if (n == 0) continue;
            for (int r = 0; r < n; r++) System.arraycopy(x, d.token(slots[r]) * h, in, r * h, h);
            experts.apply(e, in, out, n);
            for (int r = 0; r < n; r++) System.arraycopy(out, r * h, y, slots[r] * h, h);
        }
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
