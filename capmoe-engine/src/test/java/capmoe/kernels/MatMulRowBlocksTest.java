package capmoe.kernels;

import capmoe.weights.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MatMul#rowBlocks}: a prefill matmul with too few panels for the team (a router's 32
 * columns, a small model's 192) is split over (row block, panel) tiles, and every row's outputs
 * keep their bits: each equals the same row computed alone on one thread (its chains are its own),
 * for BF16/F16/F32 panels and BF16 in {@code --dot reduced} (the native pair-panel kernel), with
 * and without bias, rows not a multiple of the blocks, several matrices in one phase.
 */
class MatMulRowBlocksTest {

    @Test
    void blocksOnlyWhenPanelsAreTooFewForTheTeam() {
        int nr = Panels.NR;
        assertEquals(1, MatMul.rowBlocks(512, 64, 2048, nr, 16), "64 panels keep 16 threads busy");
        assertEquals(1, MatMul.rowBlocks(512, 2, 192, nr, 1), "one thread");
        assertEquals(1, MatMul.rowBlocks(1, 1, 192, nr, 16), "a decode step's row");
        assertEquals(1, MatMul.rowBlocks(4 * MatMul.TILE_ROWS - 1, 1, 192, nr, 16), "too few rows");
        int router = MatMul.rowBlocks(512, 1, 192, nr, 16);
        assertTrue(router >= 8 && router <= 512 / (2 * MatMul.TILE_ROWS), "a 32-column router over 512 rows on 16 threads: " + router);
        int proj = MatMul.rowBlocks(512, 6, 192, nr, 16);
        assertTrue(proj >= 2 && proj * 6 >= 2 * 16, "192 columns (6 panels) on 16 threads: " + proj + " row blocks");
        for (int threads : new int[] {2, 3, 16}) {
            for (int rows : new int[] {48, 300, 4096}) {
                int b = MatMul.rowBlocks(rows, 1, 64, nr, threads);
                assertTrue(b >= 1 && (long) (rows / b) * 64 * nr >= Parallel.MIN_TASK_WORK / 2 || b == 1,
                        "tiles of about MIN_TASK_WORK or more: rows=" + rows + " threads=" + threads + " blocks=" + b);
            }
        }
    }

    @Test
    void rowBlockTilesGiveEachRowsBitsAlone() {
        SplittableRandom rnd = new SplittableRandom(77);
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel team = new Parallel(5)) {
            int blocked = 0;
            for (int trial = 0; trial < 16; trial++) {
                boolean reduced = trial % 4 == 3;
                if (reduced && !NativeKernels.available()) continue;
                DType dtype = new DType[] {DType.BF16, DType.F16, DType.F32, DType.BF16}[trial % 4];
                int rows = 4 * MatMul.TILE_ROWS + rnd.nextInt(300), k = 1 + rnd.nextInt(trial % 2 == 0 ? 400 : 40) + (trial == 0 ? 256 : 0);
                int count = 1 + trial % 3;
                Matrix[] w = new Matrix[count];
                float[][] bias = new float[count][], y = new float[count][];
                for (int i = 0; i < count; i++) {
                    int n = 1 + rnd.nextInt(2 * Panels.NR);
                    w[i] = reduced ? ReducedMatMulTest.bf16("w" + i, n, k, new float[n * k], 10 * trial + i, arena)
                            : KernelsTest.matrix(dtype, n, k, KernelsTest.random(n * k, 10 * trial + i), arena);
                    bias[i] = trial % 2 == 1 ? KernelsTest.random(n, 20 * trial + i) : null;
                    y[i] = new float[rows * n];
                }
                int panels = 0;
                for (Matrix m : w) panels += reduced ? m.pairPanels().panels() : m.panels().panels();
                if (MatMul.rowBlocks(rows, panels, k, reduced ? PairPanels.NR : Panels.NR, team.threads()) > 1) blocked++;
                float[] x = KernelsTest.random(rows * k, 30 + trial);
                team.run(() -> MatMul.matmul(x, rows, w, bias, y));
                for (int r = 0; r < rows; r++) {
                    float[] xr = Arrays.copyOfRange(x, r * k, (r + 1) * k);
                    for (int i = 0; i < count; i++) {
                        int n = w[i].rows(), wi = i;
                        float[] alone = new float[n];
                        one.run(() -> MatMul.matmul(xr, 1, w[wi], bias[wi], alone));
                        for (int j = 0; j < n; j++) {
                            assertEquals(Float.floatToRawIntBits(alone[j]), Float.floatToRawIntBits(y[i][r * n + j]),
                                    (reduced ? "reduced " : "") + dtype + " rows=" + rows + " k=" + k + " matrix " + i + " n=" + n
                                            + ": row " + r + " column " + j);
                        }
                    }
                }
            }
            assertTrue(blocked >= 8, "most trials take the row blocks: " + blocked);
        }
    }
}
