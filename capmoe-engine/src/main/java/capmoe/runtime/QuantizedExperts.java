package capmoe.runtime;

import capmoe.kernels.Activations;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.kernels.QuantMatMul;
import capmoe.runtime.SwiGluExperts.Expert;
import capmoe.runtime.moe.Dispatch;

import java.util.List;

/**
 * {@link SwiGluExperts#runAll} for Q8_0/Q4_0 experts: the Experts stage of a layer call as grouped
 * GEMMs over every listed expert at once (as llama.cpp's {@code ggml_mul_mat_id} is one op over all
 * experts), with {@link QuantMatMul}'s arithmetic. Steps, each one parallel phase of
 * {@link Parallel#current()}:
 * <ol>
 *   <li>gather: each slot's row of x, rounded to Q8_0 ({@link QuantMatMul#dequantizedActivations}),
 *       into one matrix, the rows of an expert together (phase over slots);</li>
 *   <li>gate/up with SwiGLU fused into the epilogue (phase over (expert, {@link #BLOCK_ROWS} rows,
 *       {@link QuantMatMul#COLUMNS} columns of I)): the task decodes its gate and up rows to fp32
 *       once and runs {@link QuantMatMul#tile}s over its rows (with fewer than
 *       {@link QuantMatMul#TILE_MIN_ROWS} rows, as in decode, {@link QuantMatMul#dot} reads the
 *       quantized bytes directly); {@code silu(g)·u} goes into the hidden buffer;</li>
 *   <li>each hidden row rounded to Q8_0 in place (phase over rows);</li>
 *   <li>down into y at the experts' slots, tiled as step 2 (phase over (expert, rows, columns of H)).</li>
 * </ol>
 * Each output goes through exactly the operations of {@link SwiGluExperts#apply} (per expert
 * {@link QuantMatMul#matmul} ×3 and {@link Activations#siluMul}): the same Q8_0 rounding of each
 * row, the same chain per output (tiles and dot give equal bits), the same SwiGLU formula. So the
 * grouped and per-expert paths agree bit for bit and a row's result never depends on the rows or
 * experts beside it (the EP and data-parallel equality guarantees).
 */
final class QuantizedExperts {
    private QuantizedExperts() { }

    /** Rows per task (rows of x kept in cache while a decoded tile passes over them; a decoded tile serves them all). */
    private static final int BLOCK_ROWS = 64;
    private static final int COLUMNS = QuantMatMul.COLUMNS;

    /**
     * Per calling thread, grown as needed, never shrunk; rows = the call's kept pairs of the listed
     * experts (P'): {@code x} [P' x H] each row's input rounded to Q8_0 (fp32 values);
     * {@code act} [P' x I] silu(gate)·up, then rounded to Q8_0 in place; {@code base} [list] each
     * listed expert's first row; {@code tasks} (list index, first row, first column) per task.
     */
    private static final class Scratch {
        float[] x = new float[0], act = new float[0];
        int[] base = new int[0], tasks = new int[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** True when every matrix of every expert is Q8_0 or Q4_0 (the formats this path reads). */
    static boolean applies(List<Expert> experts) {
        for (Expert e : experts) {
            if (!e.gate().dtype().quantized() || !e.up().dtype().quantized() || !e.down().dtype().quantized()) return false;
        }
        return !experts.isEmpty();
    }

    static void runAll(List<Expert> experts, int h, int in, Dispatch d, int[] list, float[] x, float[] y) {
        Scratch s = SCRATCH.get();
        if (s.base.length < list.length) s.base = new int[list.length];
        int rows = 0;
        for (int i = 0; i < list.length; i++) {
            s.base[i] = rows;
            rows += d.rows(list[i]);
        }
        if (rows == 0) return;
        if (s.x.length < rows * h) s.x = new float[rows * h];
        if (s.act.length < rows * in) s.act = new float[rows * in];
        float[] xs = s.x, act = s.act;
        int[] base = s.base;
        Parallel pool = Parallel.current();

        // 1. gather + round to Q8_0, a phase over (list index, rows)
        int gathers = tasks(s, d, list, 1, BLOCK_ROWS);
        int[] g = s.tasks;
        pool.forEach(gathers, t -> {
            int i = g[3 * t], r0 = g[3 * t + 1], r1 = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS);
            for (int r = r0; r < r1; r++) {
                QuantMatMul.dequantizedActivations(x, d.token(d.start(list[i]) + r) * h, h, xs, (base[i] + r) * h);
            }
        });

        // 2. gate/up + SwiGLU into act, a phase over (expert, rows, I-tile)
        int n1 = tasks(s, d, list, in, COLUMNS);
        int[] t1 = s.tasks;
        pool.forEach(n1, t -> {
            int i = t1[3 * t], r0 = t1[3 * t + 1], j0 = t1[3 * t + 2];
            Expert e = experts.get(list[i]);
            int r1 = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS), j1 = Math.min(in, j0 + COLUMNS);
            int first = base[i] + r0, m = r1 - r0;
            if (m < QuantMatMul.TILE_MIN_ROWS) {
                for (int r = first; r < first + m; r++) {
                    for (int j = j0; j < j1; j++) {
                        float gate = QuantMatMul.dot(xs, r * h, h, e.gate(), j), up = QuantMatMul.dot(xs, r * h, h, e.up(), j);
                        act[r * in + j] = Activations.silu(gate) * up;
                    }
                }
                return;
            }
            int w = j1 - j0;
            float[] wf = QuantMatMul.decodedScratch(2 * COLUMNS * h);
            for (int j = j0; j < j1; j++) {
                QuantMatMul.decode(e.gate(), j, wf, (j - j0) * h);
                QuantMatMul.decode(e.up(), j, wf, (w + j - j0) * h);
            }
            float[] out = new float[QuantMatMul.TILE_OUT];
            for (int r = first; r < first + m; r += QuantMatMul.TILE_ROWS) {
                int tr = Math.min(QuantMatMul.TILE_ROWS, first + m - r);
                for (int j = j0; j < j1; j += 2) {
                    int c = j - j0, c1 = Math.min(c + 1, w - 1);     // an odd last column is paired with itself
                    QuantMatMul.tile(xs, r * h, h, tr, h, wf, c * h, c1 * h, (w + c) * h, (w + c1) * h, out);
                    for (int q = 0; q < tr; q++) {
                        act[(r + q) * in + j] = Activations.silu(out[4 * q]) * out[4 * q + 2];
                        if (j + 1 < j1) act[(r + q) * in + j + 1] = Activations.silu(out[4 * q + 1]) * out[4 * q + 3];
                    }
                }
            }
        });

        // 3. each hidden row rounded to Q8_0 in place, a phase over (list index, rows)
        int rounds = tasks(s, d, list, 1, BLOCK_ROWS);
        int[] t3 = s.tasks;
        pool.forEach(rounds, t -> {
            int i = t3[3 * t], r0 = t3[3 * t + 1], r1 = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS);
            for (int r = base[i] + r0; r < base[i] + r1; r++) QuantMatMul.dequantizedActivations(act, r * in, in, act, r * in);
        });

        // 4. down into y at the experts' slots, a phase over (expert, rows, H-tile)
        int n2 = tasks(s, d, list, h, COLUMNS);
        int[] t2 = s.tasks;
        pool.forEach(n2, t -> {
            int i = t2[3 * t], r0 = t2[3 * t + 1], j0 = t2[3 * t + 2];
            Matrix down = experts.get(list[i]).down();
            int r1 = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS), j1 = Math.min(h, j0 + COLUMNS);
            int first = base[i] + r0, m = r1 - r0, slot = d.start(list[i]) + r0 - first;   // row r's slot is r + slot
            if (m < QuantMatMul.TILE_MIN_ROWS) {
                for (int r = first; r < first + m; r++) {
                    for (int j = j0; j < j1; j++) y[(r + slot) * h + j] = QuantMatMul.dot(act, r * in, in, down, j);
                }
                return;
            }
            float[] wf = QuantMatMul.decodedScratch(COLUMNS * in);
            for (int j = j0; j < j1; j++) QuantMatMul.decode(down, j, wf, (j - j0) * in);
            float[] out = new float[QuantMatMul.TILE_OUT];
            int last = j1 - 1 - j0;
            for (int r = first; r < first + m; r += QuantMatMul.TILE_ROWS) {
                int tr = Math.min(QuantMatMul.TILE_ROWS, first + m - r);
                for (int j = j0; j < j1; j += 4) {
                    int c = j - j0;                                   // a ragged last group repeats its last row
                    QuantMatMul.tile(act, r * in, in, tr, in, wf, c * in, Math.min(c + 1, last) * in, Math.min(c + 2, last) * in, Math.min(c + 3, last) * in, out);
                    for (int q = 0; q < tr; q++) {
                        for (int p = 0; p < 4 && j + p < j1; p++) y[(r + q + slot) * h + j + p] = out[4 * q + p];
                    }
                }
            }
        });
    }

    /** Fills {@code s.tasks} as {@link SwiGluExperts#fillTasks} does (row blocks of BLOCK_ROWS, tiles of {@code tile}); returns the number of tasks. */
    private static int tasks(Scratch s, Dispatch d, int[] list, int columns, int tile) {
        int n = SwiGluExperts.taskCount(d, list, BLOCK_ROWS, columns, tile);
        if (s.tasks.length < 3 * n) s.tasks = new int[3 * n];
        SwiGluExperts.fillTasks(s.tasks, d, list, BLOCK_ROWS, columns, tile);
        return n;
    }
}
