package capmoe.runtime;

import capmoe.kernels.Activations;
import capmoe.kernels.MatMul;
import capmoe.kernels.Panels;
import capmoe.kernels.Parallel;
import capmoe.kernels.QuantMatMul;
import capmoe.runtime.SwiGluExperts.Expert;
import capmoe.runtime.moe.Dispatch;

import java.util.List;

/**
 * {@link SwiGluExperts#runAll} for Q8_0/Q4_0 experts: the Experts stage of a layer call as grouped
 * GEMMs over every listed expert at once (as llama.cpp's {@code ggml_mul_mat_id} is one op over all
 * experts), on {@link QuantMatMul#gemm}'s panel kernels. The float path's steps
 * ({@link SwiGluExperts}), each one parallel phase of {@link Parallel#current()}, with the two Q8_0
 * roundings of {@link QuantMatMul#matmul}:
 * <ol>
 *   <li>gather: each slot's row of x, rounded to Q8_0 ({@link QuantMatMul#dequantizedActivations}),
 *       into one matrix at row stride {@link MatMul#stride}(H), the rows of an expert together
 *       (phase over slots);</li>
 *   <li>gate/up with SwiGLU fused into the epilogue (phase over (expert, {@link #BLOCK_ROWS} rows,
 *       {@link #TILE_COLUMNS} columns of I)): {@link QuantMatMul#gemm} gives the task's block of gate
 *       and of up columns (prefill: each panel's K block decoded to fp32 once for all the task's
 *       rows; decode: decoded in the lanes), and {@code silu(g)·u} goes into the hidden buffer;</li>
 *   <li>each hidden row rounded to Q8_0 in place (phase over rows);</li>
 *   <li>down into y at the experts' slots (phase over (expert, rows, columns of H)).</li>
 * </ol>
 * Each output goes through exactly the operations of {@link SwiGluExperts#apply} (per expert
 * {@link QuantMatMul#matmul} ×3 and {@link Activations#siluMul}): the same Q8_0 rounding of each
 * row, the same chain per output (any rows, any path), the same SwiGLU formula. So the grouped and
 * per-expert paths agree bit for bit and a row's result never depends on the rows or experts beside
 * it (the EP and data-parallel equality guarantees).
 */
final class QuantizedExperts {
    private QuantizedExperts() { }

    /** Rows per task: a panel K block decoded to fp32 serves all of them from L1. */
    private static final int BLOCK_ROWS = 64;
    /** Columns per task, a multiple of {@link Panels#NR}: 64 gate+up columns of H=2048 in Q8_0 are 272 KB. */
    private static final int TILE_COLUMNS = 64;

    /**
     * Per calling thread, grown as needed, never shrunk; rows = the call's kept pairs of the listed
     * experts (P'): {@code x} [P' x stride(H)] each row's input rounded to Q8_0 (fp32 values);
     * {@code act} [P' x stride(I)] silu(gate)·up, then rounded to Q8_0 in place; {@code base} [list]
     * each listed expert's first row; {@code token} [P'] each row's token; {@code tasks} (list
     * index, first row, first column) per task.
     */
    private static final class Scratch {
        float[] x = new float[0], act = new float[0];
        int[] base = new int[0], token = new int[0], tasks = new int[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);
    /** Per team thread: one gate/up task's gate and up blocks, [BLOCK_ROWS x TILE_COLUMNS] each. */
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[2 * BLOCK_ROWS * TILE_COLUMNS]);

    /** True when every matrix of every expert is Q8_0 or Q4_0 (the formats this path reads). */
    static boolean applies(List<Expert> experts) {
        for (Expert e : experts) {
            if (!e.gate().dtype().quantized() || !e.up().dtype().quantized() || !e.down().dtype().quantized()) return false;
        }
        return !experts.isEmpty();
    }

    static void runAll(List<Expert> experts, int h, int in, Dispatch d, int[] list, float[] x, float[] y) {
        int hs = MatMul.stride(h), is = MatMul.stride(in);
        Scratch s = SCRATCH.get();
        if (s.base.length < list.length) s.base = new int[list.length];
        int rows = 0;
        for (int i = 0; i < list.length; i++) {
            s.base[i] = rows;
            rows += d.rows(list[i]);
        }
        if (rows == 0) return;
        if (s.x.length < rows * hs) s.x = new float[rows * hs];
        if (s.act.length < rows * is) s.act = new float[rows * is];
        if (s.token.length < rows) s.token = new int[rows];
        float[] xs = s.x, act = s.act;
        int[] base = s.base, token = s.token;
        for (int i = 0; i < list.length; i++) {
            for (int r = 0; r < d.rows(list[i]); r++) token[base[i] + r] = d.token(d.start(list[i]) + r);
        }
        Parallel pool = Parallel.current();

        // 1. gather + round to Q8_0, a phase over rows
        pool.forRange(rows, 8, (r0, r1) -> {
            for (int r = r0; r < r1; r++) QuantMatMul.dequantizedActivations(x, token[r] * h, h, xs, r * hs);
        });

        // 2. gate/up + SwiGLU into act, a phase over (expert, rows, I-tile)
        int n1 = tasks(s, d, list, in);
        int[] t1 = s.tasks;
        pool.forEach(n1, t -> {
            int i = t1[3 * t], r0 = t1[3 * t + 1], j0 = t1[3 * t + 2];
            Expert e = experts.get(list[i]);
            int m = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS) - r0, j1 = Math.min(in, j0 + TILE_COLUMNS), w = j1 - j0;
            int row = base[i] + r0, up = BLOCK_ROWS * TILE_COLUMNS;
            float[] tile = TILE.get();
            QuantMatMul.gemm(xs, row * hs, hs, m, e.gate().quantPanels(), j0, j1, tile, 0, TILE_COLUMNS);
            QuantMatMul.gemm(xs, row * hs, hs, m, e.up().quantPanels(), j0, j1, tile, up, TILE_COLUMNS);
            for (int q = 0; q < m; q++) {
                for (int j = 0; j < w; j++) {
                    act[(row + q) * is + j0 + j] = Activations.silu(tile[q * TILE_COLUMNS + j]) * tile[up + q * TILE_COLUMNS + j];
                }
            }
        });

        // 3. each hidden row rounded to Q8_0 in place, a phase over rows
        pool.forRange(rows, 8, (r0, r1) -> {
            for (int r = r0; r < r1; r++) QuantMatMul.dequantizedActivations(act, r * is, in, act, r * is);
        });

        // 4. down into y at the experts' slots, a phase over (expert, rows, H-tile)
        int n2 = tasks(s, d, list, h);
        int[] t2 = s.tasks;
        pool.forEach(n2, t -> {
            int i = t2[3 * t], r0 = t2[3 * t + 1], j0 = t2[3 * t + 2];
            int m = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS) - r0, j1 = Math.min(h, j0 + TILE_COLUMNS);
            QuantMatMul.gemm(act, (base[i] + r0) * is, is, m, experts.get(list[i]).down().quantPanels(), j0, j1,
                    y, (d.start(list[i]) + r0) * h + j0, h);
        });
    }

    /** Fills {@code s.tasks} as {@link SwiGluExperts#fillTasks} does (row blocks of BLOCK_ROWS, tiles of TILE_COLUMNS); returns the number of tasks. */
    private static int tasks(Scratch s, Dispatch d, int[] list, int columns) {
        int n = SwiGluExperts.taskCount(d, list, BLOCK_ROWS, columns, TILE_COLUMNS);
        if (s.tasks.length < 3 * n) s.tasks = new int[3 * n];
        SwiGluExperts.fillTasks(s.tasks, d, list, BLOCK_ROWS, columns, TILE_COLUMNS);
        return n;
    }
}
