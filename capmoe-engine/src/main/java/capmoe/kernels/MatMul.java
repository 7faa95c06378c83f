package capmoe.kernels;

import capmoe.weights.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * y = x W^T (+ bias): x [rows x K] fp32, W [N x K] in its stored dtype, accumulation in fp32.
 * Float weights (BF16, F16, F32) are multiplied from their {@link Panels} copy (built once per
 * matrix) by a register-tiled kernel; quantized ones go to {@link QuantMatMul}. Parallel over
 * output columns (whole panels per thread).
 *
 * <p>The kernel (BLIS's / llama.cpp's outer-product form): a tile of MR rows x {@link Panels#NR}
 * columns lives in 2·MR vector accumulators; per k it loads one fp32 panel row (two vectors),
 * broadcasts x[r, k] for each of the MR rows and does 2·MR fused multiply-adds. Nothing is summed
 * across lanes, x is read one float per row and k, and the weights once per row tile,
 * contiguously. MR = {@link #TILE_ROWS}. Blocking (BLIS's loops): for MC = 240 rows of x at a time
 * and one K block of KC panel rows (16 KB of fp32), each panel's K block serves all the row tiles
 * from L1 while those rows of x stay in L2; the next K block continues each chain from the fp32
 * value stored in y, which changes no bit. BF16 panel rows are widened in registers (one shift,
 * one and); F16 panels by the C kernel of {@link F16Gemm} (vcvtph2ps from memory inside its tile)
 * where the native library has it for this machine, else one K block at a time into a per-thread
 * fp32 scratch (vcvtph2ps, exact) that the F32 tiles ({@link #blockF32}) read; F32 panels are read
 * in place. x is read in place, at a row stride that does not
 * alias in the caches ({@link #stride}). One to five rows (decode; one with AVX2) read each weight
 * once, widening as they read, four panels at once so that eight independent chains hide the FMA
 * latency.
 *
 * <p><b>Invariant: row independence, in one fixed order.</b> Every output element, whatever
 * path computes it (any tile height, the one-row kernel, any thread, any panel position, AVX2 or
 * AVX-512, interpreter or C2), is
 * <pre>  c = 0;  for k = 0 .. K-1:  c = fma(x[r, k], W[j, k], c);  y[r, j] = c (+ bias[j])</pre>
 * a single fused multiply-add chain in k order, each step one IEEE operation that Java defines
 * exactly, so row r of y is a function of row r of x and of W alone: its bits never depend on how
 * many rows the call has, on which other rows are in it, or on r's position. The data-parallel
 * runtime relies on it (a rank computes its own sequences' rows and must get the single-process
 * bits), as does the expert-parallel one (an expert's rows arrive in batches of any size).
 * {@code KernelsTest.matmulRowIsIndependentOfTheOtherRowsAndItsPosition} checks it on random ragged shapes, and
 * {@code GemmTest} checks every path against {@link #reference}, the scalar form of that chain,
 * bit for bit (and against float64 within the stated tolerance). Other dtypes: scalar
 * {@code s += x*w} from k = 0.
 */
public final class MatMul {
    private MatMul() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int L = F.length();      // floats per vector: 8 with AVX2, 16 with AVX-512
    private static final int NR = Panels.NR;      // output columns per panel: 2L
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Per thread: the copy of x at a padded row stride ({@link #stride}), taken while a call uses it (a nested call gets its own). */
    private static final ThreadLocal<float[]> PADDED = new ThreadLocal<>();
    /** Rows of x per block (MC, a multiple of every tile height): 240 rows x KC floats of x stay in L2 (120 KB at KC = 128). */
    private static final int MC = 240;
    /** Bytes of one fp32 panel row (one k of NR columns). */
    private static final long FSTEP = 4L * NR;
    /** Bytes of x rows that may stay in L2 while one panel streams past ({@link #panelMajor}): half of a 1 MB L2. */
    private static final long X_L2_BYTES = 512 * 1024;
    /** Bytes of one fp32 panel block kept in L1 across the row tiles of a row block. */
    private static final long KC_BYTES = 16 * 1024;
    /** Panel rows (values of k) per K block: KC_BYTES of fp32 panel rows, 128 with AVX-512, 256 with AVX2. */
    private static final int KC = (int) (KC_BYTES / FSTEP);
    /** Per thread: a partial panel's chains, [rows x NR] ({@link #blockF32}; grown on demand, a kernel never nests). */
    private static final ThreadLocal<float[]> EDGE = ThreadLocal.withInitial(() -> new float[MC * NR]);
    /**
     * Per thread: the F16 path's scratch ({@link #gemmF16}). {@code floats}: prefill, one panel's K
     * block widened to fp32, [KC x NR] in the F32 panel layout ({@code segment} is the same floats
     * as the segment {@link #blockF32} reads); decode, two panels' chains [2 x NR] on their way to
     * y ({@link #interleave}). {@code halves}: the K block's halves, [KC x NR], copied out of the
     * panel for {@link #widenF16}. Heap arrays, so that C2 vectorizes the widening.
     */
    private record Widened(float[] floats, MemorySegment segment, short[] halves) {
        static Widened allocate() {
            float[] f = new float[KC * NR];
            return new Widened(f, MemorySegment.ofArray(f), new short[KC * NR]);
        }
    }
    private static final ThreadLocal<Widened> WIDENED = ThreadLocal.withInitial(Widened::allocate);

    /**
     * Rows per register tile (MR): 12 with 32 vector registers (AVX-512: 24 accumulators, 2 weight
     * vectors, 1 broadcast; 94 vs 83 GFLOP/s for 8 rows on one Zen 4 core, m=512 k=n=2048 BF16),
     * else 4 (AVX2: 8 + 2 + 1 of 16). Ragged ends take 8-, 4- and 1-row tiles.
     */
    public static final int TILE_ROWS = L >= 16 ? 12 : 4;

    public static void matmul(float[] x, int rows, Matrix w, float[] y) {
        matmul(x, rows, w, null, y);
    }

    /** y[r*N + n] = sum_k x[r*K + k] * W[n,k] (+ bias[n]); y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        int n = w.rows(), k = w.cols();
        check(x, rows, w, y);
        if (rows == 0) return;
        if (w.dtype().quantized()) { QuantMatMul.matmul(x, rows, w, bias, y); return; }
        if (!Panels.supports(w.dtype())) {
            Parallel.current().forRange(n, 1, (n0, n1) -> scalar(x, rows, k, w, n, n0, n1, bias, y));
            return;
        }
        MultiCall c = MultiCall.take();
        c.one[0] = w;
        c.oneBias[0] = bias;
        c.oneY[0] = y;
        try {
            matmul(x, rows, c.one, c.oneBias, c.oneY, c);
        } finally {
            c.one[0] = null;
            c.oneBias[0] = null;
            c.oneY[0] = null;
            MultiCall.put(c);
        }
    }

    /**
     * y = x W^T for one expert's matrix: {@link #matmul(float[], int, Matrix, float[], float[])},
     * except that a BF16 matrix in {@code --dot reduced} is summed in {@code ggml_vec_dot_bf16}'s
     * order at every row count, as llama.cpp's {@code ggml_mul_mat_id} sums the experts
     * ({@link ReducedMatMul.Order#VEC_DOT}), the order of the grouped experts' {@link #gemm(float[], int, int, int, Matrix, int, int, float[], int, int)}.
     */
    public static void matmulExpert(float[] x, int rows, Matrix w, float[] y) {
        if (!w.reducedBf16() || rows == 0) {
            matmul(x, rows, w, null, y);
            return;
        }
        check(x, rows, w, y);
        MultiCall c = MultiCall.take();
        c.one[0] = w;
        c.oneY[0] = y;
        c.expert = true;
        try {
            matmul(x, rows, c.one, c.oneBias, c.oneY, c);
        } finally {
            c.one[0] = null;
            c.oneY[0] = null;
            MultiCall.put(c);
        }
    }

    /**
     * y_i = x W_i^T (+ bias_i) for several matrices read with the same x (an attention's q, k and
     * v projections): one padded copy of x and ONE parallel phase over all their panels instead
     * of a phase per matrix (a decode step's hand-offs are what it waits on). Every output is
     * computed exactly as {@link #matmul(float[], int, Matrix, float[], float[])} computes it, so
     * the bits are the same. Matrices of different widths, or quantized ones, run one call each,
     * except Q8_0/Q4_0 in {@code --dot reduced}: {@link QuantDot#matmul(float[], int, Matrix[], float[][], float[][])}.
     * BF16 matrices in {@code --dot reduced} ({@link ReducedMatMul#applies}) run the same phase over
     * their {@link PairPanels} with {@link ReducedMatMul#gemm}, x unpadded.
     * {@code bias} may be null, or hold nulls.
     */
    public static void matmul(float[] x, int rows, Matrix[] w, float[][] bias, float[][] y) {
        MultiCall c = MultiCall.take();
        try {
            matmul(x, rows, w, bias, y, c);
        } finally {
            MultiCall.put(c);
        }
    }

    /**
     * One multi-matrix call's state, reused by the calling thread's next call (a decode step then
     * allocates no per-call arrays or lambdas here): the matrices' panel ranges in the phase, their
     * fp32-tile panels, the phase body and what it reads, and the one-element arrays through which
     * {@link #matmul(float[], int, Matrix, float[], float[])} passes a single matrix. Taken out of
     * the thread's slot while a call uses it (a nested call, e.g. from inside a phase, gets its own).
     */
    private static final class MultiCall implements Parallel.Range, Parallel.Task {
        private static final ThreadSlot<MultiCall> SLOT = new ThreadSlot<>(MultiCall::new);

        final Matrix[] one = new Matrix[1];
        final float[][] oneBias = new float[1][], oneY = new float[1][];
        /** [matrices + 1]: matrix i's panels are [first[i], first[i+1]) of the phase. */
        int[] first = new int[4];
        /** [matrices]: exact: each matrix's fp32-tile panels (reduced: unused, w[i].pairPanels()). */
        Panels[] panels = new Panels[3];
        // the running phase's arguments (cleared after it, so that no matrix or buffer is kept alive)
        Matrix[] w;
        float[][] bias, y;
        float[] x;
        int rows, xs, nr;
        /** A phase over (row block, panel) tiles ({@link #run(int)}): rows per block (a multiple of TILE_ROWS) and the phase's panels. */
        int blockRows, panelCount;
        boolean reduced;
        /** An expert's matrix ({@link #matmulExpert}): reduced BF16 takes ggml_vec_dot_bf16's order at every row count. */
        boolean expert;

        static MultiCall take() {
            return SLOT.take();
        }

        static void put(MultiCall c) {
            c.expert = false;
            c.w = null;
            c.bias = null;
            c.y = null;
            c.x = null;
            java.util.Arrays.fill(c.panels, null);
            SLOT.put(c);
        }

        void size(int matrices) {
            if (first.length < matrices + 1) first = new int[matrices + 1];
            if (panels.length < matrices) panels = new Panels[matrices];
        }

        /** Panels [q0, q1) of the phase, all rows: each matrix's share of them, then its bias. */
        @Override
        public void run(int q0, int q1) {
            run(q0, q1, 0, rows);
        }

        /** Tile t of a (row block, panel) phase: panel t % panelCount over row block t / panelCount. */
        @Override
        public void run(int t) {
            int q = t % panelCount, r0 = t / panelCount * blockRows;
            run(q, q + 1, r0, Math.min(rows, r0 + blockRows));
        }

        /** Panels [q0, q1) of the phase over rows [r0, r1): each row's outputs exactly as over all rows (a row's chains are its own). */
        private void run(int q0, int q1, int r0, int r1) {
            for (int i = 0; i < w.length; i++) {
                int n = w[i].rows();
                int n0 = (Math.max(q0, first[i]) - first[i]) * nr, n1 = Math.min(n, (Math.min(q1, first[i + 1]) - first[i]) * nr);
                if (n0 >= n1) continue;
                if (reduced) {
                    // the order of the whole call's batch (llama.cpp's n), not of this row block
                    ReducedMatMul.gemm(expert ? ReducedMatMul.Order.VEC_DOT : ReducedMatMul.matMulOrder(rows, n, w[i].cols()),
                            x, r0 * xs, xs, r1 - r0, w[i].pairPanels(), n0, n1, y[i], r0 * n + n0, n);
                }
                else gemm(x, r0 * xs, xs, r1 - r0, panels[i], n0, n1, y[i], r0 * n + n0, n);
                float[] b = bias == null ? null : bias[i];
                if (b != null) {
                    for (int r = r0; r < r1; r++) for (int j = n0; j < n1; j++) y[i][r * n + j] += b[j];
                }
            }
        }
    }

    /** {@link #matmul(float[], int, Matrix[], float[][], float[][])} with the call's state in {@code c}. */
    private static void matmul(float[] x, int rows, Matrix[] w, float[][] bias, float[][] y, MultiCall c) {
        if (QuantDot.applies(w)) { QuantDot.matmul(x, rows, w, bias, y); return; }   // Q8_0/Q4_0 in --dot reduced: x quantized once
        int k = w[0].cols();
        boolean reduced = ReducedMatMul.applies(w);   // --dot reduced on BF16 weights: llama.cpp's arithmetic, native kernels
        boolean same = true;
        for (Matrix m : w) same &= m.cols() == k && (reduced || Panels.supports(m.dtype()) && !m.reducedBf16());
        if (!same || rows == 0) {
            for (int i = 0; i < w.length; i++) matmul(x, rows, w[i], bias == null ? null : bias[i], y[i]);
            return;
        }
        int nr = reduced ? PairPanels.NR : NR;        // columns per panel of the layout multiplied from
        c.size(w.length);
        int[] first = c.first;
        first[0] = 0;
        for (int i = 0; i < w.length; i++) {
            check(x, rows, w[i], y[i]);
            int count = reduced ? w[i].pairPanels().panels() : (c.panels[i] = w[i].panels()).panels();
            first[i + 1] = first[i] + count;
        }
        Parallel pool = Parallel.current();
        int xs = !reduced && rows >= TILE_ROWS / 2 ? stride(k) : k;
        float[] xp = x;
        if (xs != k) {
            float[] padded = xp = take(rows * xs);
            pool.forRange(rows, 16, (r0, r1) -> {
                for (int r = r0; r < r1; r++) System.arraycopy(x, r * k, padded, r * xs, k);
            });
        }
        c.w = w;
        c.bias = bias;
        c.y = y;
        c.x = xp;
        c.rows = rows;
        c.xs = xs;
        c.nr = nr;
        c.reduced = reduced;
        int blocks = rowBlocks(rows, first[w.length], k, nr, pool.threads());
        try {
            if (blocks > 1) {
                c.blockRows = ((rows + blocks - 1) / blocks + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS;
                c.panelCount = first[w.length];
                pool.forEach((rows + c.blockRows - 1) / c.blockRows * c.panelCount, (Parallel.Task) c);
            } else {
                pool.forWork(first[w.length], (long) rows * k * nr, c);
            }
        } finally {
            if (xp != x) PADDED.set(xp);
        }
    }

    /**
     * Row blocks to split a prefill matmul's rows into, besides its {@code panels} (each of
     * {@code nr} columns): 1 (a phase over panels alone) unless there are too few panels to keep
     * {@code threads} busy, e.g. a router's 32 or 64 columns, or a small model's projections (192
     * columns: 6 panels for 16 threads). Then about four tiles per thread, each a block of at least
     * 2 x TILE_ROWS rows and about {@link Parallel#MIN_TASK_WORK} multiply-adds or more.
     */
    static int rowBlocks(int rows, int panels, int k, int nr, int threads) {
        if (threads < 2 || panels >= 4 * threads || rows < 4 * TILE_ROWS) return 1;
        long perRow = (long) k * nr;
        int byWork = (int) Math.min(Integer.MAX_VALUE, (long) rows * perRow / Math.max(1, Parallel.MIN_TASK_WORK));
        int want = (4 * threads + panels - 1) / panels;
        return Math.max(1, Math.min(Math.min(want, rows / (2 * TILE_ROWS)), Math.max(1, byWork / panels)));
    }

    /** Panels per task of a matmul phase over rows x k: at least {@link Parallel#MIN_TASK_WORK} multiply-adds. */
    static int grain(int rows, int k) {
        long perPanel = Math.max(1L, (long) rows * k * NR);
        return (int) Math.max(1, Math.min(1 << 20, (Parallel.MIN_TASK_WORK + perPanel - 1) / perPanel));
    }

    private static void check(float[] x, int rows, Matrix w, float[] y) {
        int n = w.rows(), k = w.cols();
        if (x.length < (long) rows * k || y.length < (long) rows * n) {
            throw new IllegalArgumentException("matmul " + w.name() + ": x has " + x.length + " floats, y " + y.length
                    + ", need " + rows + " x " + k + " and " + rows + " x " + n);
        }
    }

    /**
     * The row stride to give x of width k: k, or k + 16 when k is a multiple of 256 floats. Rows
     * 1 KB-multiples apart fall into the same few cache sets, so a tile's 12 rows (and a block's
     * 240) would evict each other; 64 more bytes spread them over the sets (one Zen 4 core,
     * m=64 k=2048 n=64 BF16: 108 vs 95 GFLOP/s).
     */
    public static int stride(int k) {
        return (k & 255) == 0 ? k + 16 : k;
    }

    /** This thread's padded-x scratch of at least n floats, taken out of the thread-local slot until put back. */
    private static float[] take(int n) {
        float[] p = PADDED.get();
        PADDED.remove();
        return p != null && p.length >= n ? p : new float[Math.max(n, p == null ? 0 : p.length * 2)];
    }

    /**
     * The kernel on one column range, on the calling thread: for rows r < {@code rows} of x (row r
     * at {@code x0 + r*xs}, K = w.k() floats) and columns j in [j0, j1) ({@code j0} a multiple of
     * {@link Panels#NR}), {@code y[y0 + r*ys + j - j0] = x_r · W[j]} in the class's order.
     * Grouped kernels ({@code SwiGluExperts}) call it per (expert, rows, column tile).
     *
     * <p>One method per dtype ({@link #gemmBF16}, {@link #gemmF16}, {@link #gemmF32}): each is
     * compiled by C2 with its dtype fixed, and the tile kernels ({@link #blockF32}) see fp32 panel
     * rows only. A dtype switch inside the tiles (as before) merged vectors of two dtypes in one
     * loop: the F16 path's vectors were not scalarised (JFR: allocation in {@code rows12} under
     * {@code gemmF16}) and F16 prefill ran at 0.21-0.30x llama.cpp against 0.66x for BF16.
     */
    public static void gemm(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        gemmPanels(x, x0, xs, rows, w, j0, j1, y, y0, ys);
    }

    /**
     * {@link #gemm(float[], int, int, int, Panels, int, int, float[], int, int)} on matrix w in its
     * {@link Matrix#dot} mode: a reduced BF16 matrix goes to {@link ReducedMatMul#gemm} in
     * {@code ggml_vec_dot_bf16}'s order, llama.cpp's for the experts, whom the grouped kernels
     * multiply (j0 then a multiple of {@link PairPanels#NR} too), any other to its {@link Matrix#panels}.
     */
    public static void gemm(float[] x, int x0, int xs, int rows, Matrix w, int j0, int j1, float[] y, int y0, int ys) {
        if (w.reducedBf16()) ReducedMatMul.gemm(ReducedMatMul.Order.VEC_DOT, x, x0, xs, rows, w.pairPanels(), j0, j1, y, y0, ys);
        else gemmPanels(x, x0, xs, rows, w.panels(), j0, j1, y, y0, ys);
    }

    private static void gemmPanels(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        if (j0 % NR != 0) throw new IllegalArgumentException("gemm: first column " + j0 + " is not a multiple of " + NR);
        switch (w.dtype()) {
            case BF16 -> gemmBF16(x, x0, xs, rows, w, j0, j1, y, y0, ys);
            case F16 -> gemmF16(x, x0, xs, rows, w, j0, j1, y, y0, ys);
            case F32 -> gemmF32(x, x0, xs, rows, w, j0, j1, y, y0, ys);
            default -> throw new IllegalArgumentException(w.dtype() + " has no panel kernel");
        }
    }

    /**
     * {@link #gemm} for BF16 panels, widened in registers as they are read (one shift or one and per
     * L weights, exact). Decode (fewer than TILE_ROWS / 2 rows) reads each weight once
     * ({@link #row1x4BF16}). Prefill, per block of MC rows, per K block of 256 panel rows (16 KB of
     * BF16), per panel: the BF16 tiles ({@link #rows12BF16} ...) over the block's rows, as
     * {@link #blockF32} runs the F32 ones. Widening each K block to fp32 once instead (as F16 does)
     * and running the F32 tiles was measured slower: 80 vs 95 GFLOP/s of thread CPU time on one
     * core here, m=256 k=2048 n=1024 (the F32 tiles read twice the bytes per panel row).
     */
    private static void gemmBF16(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        int k = w.k(), p = j0 / NR, pEnd = (j1 + NR - 1) / NR;
        long step = w.bytesPerK();
        MemorySegment data = w.data();
        if (rows < TILE_ROWS / 2) {
            for (int r = 0; r < rows; r++) {
                int xr = x0 + r * xs, yr = y0 + r * ys, q = p;
                for (; q + 4 <= pEnd && (q + 4) * NR <= j1; q += 4) {
                    row1x4BF16(x, xr, k, data, w.offset(q), w.offset(q + 1) - w.offset(q), step, y, yr + q * NR - j0);
                }
                for (; q < pEnd; q++) {
                    int col = q * NR, width = Math.min(NR, j1 - col);
                    float[] out = width == NR ? y : edge(NR);
                    row1BF16(x, xr, 0, k, data, w.offset(q), step, false, out, width == NR ? yr + col - j0 : 0, 0);
                    if (width < NR) System.arraycopy(out, 0, y, yr + col - j0, width);
                }
            }
            return;
        }
        int kc = (int) (KC_BYTES / step);
        for (int r0 = 0; r0 < rows; r0 += MC) {
            int m = Math.min(MC, rows - r0);
            int nk = (k + kc - 1) / kc, nq = pEnd - p;
            boolean panelMajor = panelMajor(m, k);
            for (int b = 0; b < nk * nq; b++) {
                int q = p + (panelMajor ? b / nk : b % nq), c0 = (panelMajor ? b % nk : b / nq) * kc, col = q * NR;
                tiles(true, x, x0 + r0 * xs + c0, xs, m, Math.min(kc, k - c0), data, w.offset(q) + c0 * step, c0 > 0,
                        y, y0 + r0 * ys + col - j0, ys, Math.min(NR, j1 - col));
            }
        }
    }

    /**
     * {@link #gemm} for F16 panels (halves in column order, finite: {@link Panels}). Prefill: the C
     * kernel ({@link F16Gemm#gemm}) when {@link F16Gemm#ACTIVE}, else {@link #prefillF16}: each
     * panel's K block is widened into this thread's fp32 scratch by {@link #widenF16} (C2 compiles
     * its loop to F16C's vcvtph2ps), and {@link #blockF32} runs the F32 tiles on it, in
     * {@link #panelMajor}'s order; both give the same bits. Decode (fewer than TILE_ROWS / 2 rows) reads each weight once,
     * widened in registers: four panels at a time ({@link #row1x4F16}) when the row of x may be
     * scaled by 2^112 ({@link #scalable}), else and for a last panel or three, one at a time
     * ({@link #row1F16}).
     *
     * <p>Measured (scripts/GemmBench.java, one thread, OLMoE-1B-7B's expert shape k=2048 n=1024, 16
     * matrices read from memory, GFLOP/s of CPU time, old and new kernels alternating on a shared
     * machine): prefill (32 rows) 62-71 before, 73-76 with {@link #prefillF16}, 99.5-100.5 with the C
     * kernel (against 73.5-77.5 for prefillF16 and 92-95 for BF16 in the same runs, README "F16
     * prefill in C"); decode (one row) 15 before (the widening in Vector API lanes,
     * {@link #f16ToF32}, one panel at a time), 24-25 now, against 25-28 for BF16.
     */
    private static void gemmF16(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        int k = w.k(), p = j0 / NR, pEnd = (j1 + NR - 1) / NR;
        MemorySegment data = w.data();
        Widened block = WIDENED.get();
        if (rows < TILE_ROWS / 2) {
            for (int r = 0; r < rows; r++) {
                int xr = x0 + r * xs, yr = y0 + r * ys, q = p;
                if (scalable(x, xr, k)) {
                    for (; q + 4 <= pEnd && (q + 4) * NR <= j1; q += 4) {
                        row1x4F16(x, xr, k, data, w.offset(q), w.offset(q + 1) - w.offset(q), block.floats(), y, yr + q * NR - j0);
                    }
                }
                for (; q < pEnd; q++) {
                    int col = q * NR, width = Math.min(NR, j1 - col);
                    float[] out = width == NR ? y : edge(NR);
                    row1F16(x, xr, k, data, w.offset(q), block.floats(), out, width == NR ? yr + col - j0 : 0);
                    if (width < NR) System.arraycopy(out, 0, y, yr + col - j0, width);
                }
            }
            return;
        }
        if (F16Gemm.ACTIVE) F16Gemm.gemm(x, x0, xs, rows, w, j0, j1, y, y0, ys);
        else prefillF16(x, x0, xs, rows, w, j0, j1, y, y0, ys);
    }

    /**
     * {@link #gemmF16}'s prefill in Java: each panel's K block widened into this thread's fp32
     * scratch ({@link #widenF16}), then {@link #blockF32}'s F32 tiles on it, in {@link #panelMajor}'s
     * order. The path without the native kernel ({@link F16Gemm}), and the tests' reference for its bits.
     */
    static void prefillF16(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        int k = w.k(), p = j0 / NR, pEnd = (j1 + NR - 1) / NR;
        MemorySegment data = w.data();
        Widened block = WIDENED.get();
        for (int r0 = 0; r0 < rows; r0 += MC) {
            int m = Math.min(MC, rows - r0);
            int nk = (k + KC - 1) / KC, nq = pEnd - p;
            boolean panelMajor = panelMajor(m, k);
            for (int b = 0; b < nk * nq; b++) {
                int q = p + (panelMajor ? b / nk : b % nq), c0 = (panelMajor ? b % nk : b / nq) * KC, col = q * NR, kn = Math.min(KC, k - c0);
                widenF16(data, w.offset(q) + c0 * (2L * NR), kn * NR, block.halves(), block.floats(), 0);
                blockF32(x, x0 + r0 * xs + c0, xs, m, kn, block.segment(), 0, c0 > 0, y, y0 + r0 * ys + col - j0, ys, Math.min(NR, j1 - col));
            }
        }
    }

    /** {@link #gemm} for F32 panels: the panels are already fp32 panel rows, so {@link #blockF32} reads them in place. */
    private static void gemmF32(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        int k = w.k(), p = j0 / NR, pEnd = (j1 + NR - 1) / NR;
        MemorySegment data = w.data();
        if (rows < TILE_ROWS / 2) {
            for (int r = 0; r < rows; r++) {
                int xr = x0 + r * xs, yr = y0 + r * ys, q = p;
                for (; q + 4 <= pEnd && (q + 4) * NR <= j1; q += 4) {
                    row1x4F32(x, xr, k, data, w.offset(q), w.offset(q + 1) - w.offset(q), y, yr + q * NR - j0);
                }
                for (; q < pEnd; q++) {
                    int col = q * NR, width = Math.min(NR, j1 - col);
                    float[] out = width == NR ? y : edge(NR);
                    row1(x, xr, 0, k, data, w.offset(q), false, out, width == NR ? yr + col - j0 : 0, 0);
                    if (width < NR) System.arraycopy(out, 0, y, yr + col - j0, width);
                }
            }
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += MC) {
            int m = Math.min(MC, rows - r0);
            int nk = (k + KC - 1) / KC, nq = pEnd - p;
            boolean panelMajor = panelMajor(m, k);
            for (int b = 0; b < nk * nq; b++) {
                int q = p + (panelMajor ? b / nk : b % nq), c0 = (panelMajor ? b % nk : b / nq) * KC, col = q * NR;
                blockF32(x, x0 + r0 * xs + c0, xs, m, Math.min(KC, k - c0), data, w.offset(q) + c0 * FSTEP, c0 > 0,
                        y, y0 + r0 * ys + col - j0, ys, Math.min(NR, j1 - col));
            }
        }
    }

    /**
     * The F32 micro-kernels over {@code rows} rows on one fp32 panel block: the entry every panel
     * path ends in (BF16 and F16 after widening a block, F32 in place, quantized panels after
     * decoding a block). For r < rows and j < width:
     * <pre>  c = add ? y[y0 + r*ys + j] : 0;
     *  for i = 0 .. kn-1:  c = fma(x[x0 + r*xs + i], B[i, j], c);
     *  y[y0 + r*ys + j] = c;</pre>
     * where panel row i of the block, {@code B[i, 0 .. NR-1]}, is NR little-endian floats at byte
     * {@code bo + i * 4 * NR} of {@code block} (the F32 {@link Panels} layout: column j of the
     * panel at float j). So a caller that walks K in blocks (k ascending, {@code add} from the
     * second block on) gets the class's single fused multiply-add chain per output, the same bits
     * as every other path. Columns of y at and past {@code width} (at most NR; less for a matrix's
     * partial last panel) are not touched.
     * <ol>
     *   <li>A partial panel (width &lt; NR) runs in this thread's edge scratch [rows x NR], its
     *       chains copied in from y when {@code add} and out to y at the end.</li>
     *   <li>The rows go in register tiles of MR = {@link #TILE_ROWS} rows, then 8, 4 and single rows
     *       ({@link #rows12}, {@link #rows8}, {@link #rows4}, {@link #row1}); each tile reads the block
     *       once, in order, and keeps its 2·m chains in registers over the kn steps.</li>
     * </ol>
     * For speed: {@code 4 * NR * kn} bytes of block (16 KB at KC rows) stay in L1 across the row
     * tiles, and up to MC (240) rows of x in L2; the caller blocks K and rows so. Runs on the
     * calling thread; allocates nothing once the thread's edge scratch is as large as the call.
     */
    static void blockF32(float[] x, int x0, int xs, int rows, int kn, MemorySegment block, long bo, boolean add,
                         float[] y, int y0, int ys, int width) {
        tiles(false, x, x0, xs, rows, kn, block, bo, add, y, y0, ys, width);
    }

    /** {@link #blockF32}'s steps on an fp32 block, or ({@code bf16}) on kn rows of a BF16 panel at byte bo (the BF16 tiles). */
    private static void tiles(boolean bf16, float[] x, int x0, int xs, int rows, int kn, MemorySegment block, long bo, boolean add,
                              float[] y, int y0, int ys, int width) {
        float[] dst = y;
        int d0 = y0, ds = ys;
        if (width < NR) {
            dst = edge(rows * NR);
            d0 = 0;
            ds = NR;
            if (add) for (int r = 0; r < rows; r++) System.arraycopy(y, y0 + r * ys, dst, r * NR, width);
        }
        for (int r = 0; r < rows; ) {
            int m = tileRows(rows - r), xr = x0 + r * xs, dr = d0 + r * ds;
            if (bf16) {
                long step = FSTEP / 2;
                switch (m) {
                    case 12 -> rows12BF16(x, xr, xs, kn, block, bo, step, add, dst, dr, ds);
                    case 8 -> rows8BF16(x, xr, xs, kn, block, bo, step, add, dst, dr, ds);
                    case 4 -> rows4BF16(x, xr, xs, kn, block, bo, step, add, dst, dr, ds);
                    default -> row1BF16(x, xr, xs, kn, block, bo, step, add, dst, dr, ds);
                }
            } else {
                switch (m) {
                    case 12 -> rows12(x, xr, xs, kn, block, bo, add, dst, dr, ds);
                    case 8 -> rows8(x, xr, xs, kn, block, bo, add, dst, dr, ds);
                    case 4 -> rows4(x, xr, xs, kn, block, bo, add, dst, dr, ds);
                    default -> row1(x, xr, xs, kn, block, bo, add, dst, dr, ds);
                }
            }
            r += m;
        }
        if (dst != y) for (int r = 0; r < rows; r++) System.arraycopy(dst, r * NR, y, y0 + r * ys, width);
    }

    /**
     * The order of a row block's (panel, K block) pairs (BF16 and F32 panels, read in place by the
     * tiles; F16 panels, each K block widened just before): panel by panel, each panel's K blocks in
     * turn (one contiguous stream of weights per panel, which the hardware prefetchers follow),
     * when the block's rows of x (m x k floats) fit in {@link #X_L2_BYTES}; else K block by K
     * block over all panels, so that only one K block of x (m x KC floats) need stay in L2. Either
     * way each output's chain runs over k in ascending order: the same bits. Measured on the
     * grouped experts' tasks (32-64 rows of x, k = 2048): BF16 prefill of the 2-layer
     * OLMoE-1B-7B shape at 1 thread 1.15x on the 16-core Xeon device (one A/B round).
     */
    private static boolean panelMajor(int m, int k) {
        return 4L * m * k <= X_L2_BYTES;
    }

    /** This thread's edge scratch of at least n floats (a partial panel's chains; a kernel never nests). */
    private static float[] edge(int n) {
        float[] e = EDGE.get();
        if (e.length < n) EDGE.set(e = new float[Math.max(n, 2 * e.length)]);
        return e;
    }

    /**
     * The scalar form of the kernel's order for one output (see the class Javadoc): the fused
     * multiply-add chain over k of x[x0 + k] and W[j, k]. Tests compare every path to it bit for bit.
     */
    public static float reference(float[] x, int x0, Matrix w, int j) {
        float c = 0;
        for (int i = 0; i < w.cols(); i++) c = Math.fma(x[x0 + i], w.get(j, i), c);
        return c;
    }

    /** The height of the next row tile when {@code left} rows remain: MR, then 8 (AVX-512), then 4, then single rows. */
    private static int tileRows(int left) {
        return left >= TILE_ROWS ? TILE_ROWS : left >= 8 ? 8 : left >= 4 ? 4 : 1;
    }

    /**
     * n halves at byte so of src (an F16 panel's rows, columns in order) as floats at d0 of dst,
     * exactly ({@link Float#float16ToFloat}), through the heap array h (at least n halves): a copy
     * into h, then a counted loop between two arrays, which C2's superword compiles to F16C's
     * vcvtph2ps (16 halves per instruction with AVX-512). Four times faster than the same widening
     * in Vector API lanes (a dozen integer operations per vector, {@link #f16ToF32}): 0.04 vs 0.17
     * ns per half on one core here. The same loop reading the segment directly stays scalar once
     * inlined into its caller (0.4 ns per half), and writing into a segment does too (C2 cannot
     * rule out that two segments overlap).
     */
    private static void widenF16(MemorySegment src, long so, int n, short[] h, float[] dst, int d0) {
        MemorySegment.copy(src, ValueLayout.JAVA_SHORT, so, h, 0, n);
        for (int i = 0; i < n; i++) dst[d0 + i] = Float.float16ToFloat(h[i]);
    }

    /** One row of one F16 panel (decode), widened in registers as it is read ({@link #evenF16}, {@link #oddF16}): two chains. */
    private static void row1F16(float[] x, int x0, int k, MemorySegment w, long wo, float[] t, float[] y, int y0) {
        FloatVector e = FloatVector.zero(F), o = FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += 2L * NR) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + c]);
            IntVector h = IntVector.fromMemorySegment(I, w, wo, LE);
            e = v.fma(evenF16(h), e); o = v.fma(oddF16(h), o);
        }
        e.intoArray(t, 0); o.intoArray(t, L);
        interleave(t, 1, y, y0);
    }

    /**
     * One row of four consecutive F16 panels ({@code pstep} bytes apart), decode: eight independent
     * chains, as {@link #row1x4BF16}, on weights widened in registers as read, with the 2^112 of
     * {@link #evenF16} moved onto x: each step's broadcast is x[c]·2^112 (exact: the caller checked
     * {@link #scalable}) and the weights are {@link #evenHalves} / {@link #oddHalves}, w·2^-112
     * exactly, so every product, and so every chain, is the same as with x and w. One multiply per
     * k instead of eight, and a loop body C2 still inlines whole (with the eight multiplies it does
     * not: NodeCountInliningCutoff, and what it leaves out runs boxed, 15x slower).
     */
    private static void row1x4F16(float[] x, int x0, int k, MemorySegment w, long wo, long pstep, float[] t, float[] y, int y0) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), b0 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), d0 = FloatVector.zero(F), d1 = FloatVector.zero(F);
        long wa = wo, wb = wo + pstep, wc = wb + pstep, wd = wc + pstep, step = 2L * NR;
        for (int c = 0; c < k; c++, wa += step, wb += step, wc += step, wd += step) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + c] * 0x1p112f);
            IntVector h;
            h = IntVector.fromMemorySegment(I, w, wa, LE); a0 = v.fma(evenHalves(h), a0); a1 = v.fma(oddHalves(h), a1);
            h = IntVector.fromMemorySegment(I, w, wb, LE); b0 = v.fma(evenHalves(h), b0); b1 = v.fma(oddHalves(h), b1);
            h = IntVector.fromMemorySegment(I, w, wc, LE); c0 = v.fma(evenHalves(h), c0); c1 = v.fma(oddHalves(h), c1);
            h = IntVector.fromMemorySegment(I, w, wd, LE); d0 = v.fma(evenHalves(h), d0); d1 = v.fma(oddHalves(h), d1);
        }
        a0.intoArray(t, 0); a1.intoArray(t, L); b0.intoArray(t, NR); b1.intoArray(t, NR + L);
        c0.intoArray(t, 2 * NR); c1.intoArray(t, 2 * NR + L); d0.intoArray(t, 3 * NR); d1.intoArray(t, 3 * NR + L);
        interleave(t, 4, y, y0);
    }

    /**
     * Whether x[x0 .. x0+k) may be scaled by 2^112 exactly ({@link #row1x4F16}): every |x| below
     * 2^16 (the product stays below fp32's 2^128; subnormals scale exactly). False for an
     * infinity or a NaN.
     */
    private static boolean scalable(float[] x, int x0, int k) {
        FloatVector m = FloatVector.zero(F);
        int c = 0;
        for (; c <= k - L; c += L) m = m.max(FloatVector.fromArray(F, x, x0 + c).abs());
        boolean ok = m.compare(VectorOperators.LT, 0x1p16f).allTrue();
        for (; c < k; c++) ok &= Math.abs(x[x0 + c]) < 0x1p16f;
        return ok;
    }

    /**
     * Panel columns 0, 2, .., NR-2 of an F16 panel row read as L ints (int i: column 2i in its low
     * half, 2i+1 in its high half), as floats. Exact for finite halves, which is all an F16 panel
     * holds ({@link Panels#pack}): the half moved to the top (sign at bit 31) and shifted
     * arithmetically by 3 puts exponent and mantissa at fp32's bits 13..27 and the sign at 31 (the
     * and clears its copies and the other half): the value times 2^-112, exactly (halves below
     * 2^-14 land on fp32 subnormals), which one multiply by 2^112 rescales. Four operations per L
     * weights where {@link #f16ToF32} (which also handles infinities and NaNs) takes a dozen.
     */
    private static FloatVector evenF16(IntVector h) {
        return evenHalves(h).mul(TWO_112);
    }

    /** {@link #evenF16} before its multiply: the even columns times 2^-112, exactly. */
    private static FloatVector evenHalves(IntVector h) {
        return h.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_BITS).reinterpretAsFloats();
    }

    /** Panel columns 1, 3, .., NR-1 of an F16 panel row read as L ints, as floats ({@link #evenF16}'s steps on the high halves). */
    private static FloatVector oddF16(IntVector h) {
        return oddHalves(h).mul(TWO_112);
    }

    /** {@link #oddF16} before its multiply: the odd columns times 2^-112, exactly. */
    private static FloatVector oddHalves(IntVector h) {
        return h.lanewise(VectorOperators.ASHR, 3).and(F16_BITS).reinterpretAsFloats();
    }

    /**
     * Panels' chains from t to y in column order: panel p's even columns are t[p*NR .. p*NR+L),
     * its odd ones the next L floats ({@link #evenF16}, {@link #oddF16}); y[y0 + p*NR + j] gets
     * column j of panel p.
     */
    private static void interleave(float[] t, int panels, float[] y, int y0) {
        for (int p = 0; p < panels; p++) {
            for (int i = 0, o = p * NR; i < L; i++) {
                y[y0 + o + 2 * i] = t[o + i];
                y[y0 + o + 2 * i + 1] = t[o + L + i];
            }
        }
    }

    /** BF16 panel columns 0..L-1 of the panel row at byte o, as floats. */
    private static FloatVector loBF16(MemorySegment w, long o) {
        return IntVector.fromMemorySegment(I, w, o, LE).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** BF16 panel columns L..2L-1 of the panel row at byte o, as floats. */
    private static FloatVector hiBF16(MemorySegment w, long o) {
        return IntVector.fromMemorySegment(I, w, o, LE).and(0xFFFF0000).reinterpretAsFloats();
    }

    /**
     * An 8-row tile of one fp32 panel block ({@link #blockF32}) over k steps: x[r, c] at x0 + r*xs + c (r < 8), outputs at y0 + r*ys; the
     * chains start at zero, or, when {@code add}, at the values in y (the previous K block's).
     */
    private static void rows8(float[] x, int x0, int xs, int k, MemorySegment w, long wo, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c10 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c11 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c20 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c21 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c30 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c31 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        FloatVector c40 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys) : FloatVector.zero(F);
        FloatVector c41 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys + L) : FloatVector.zero(F);
        FloatVector c50 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys) : FloatVector.zero(F);
        FloatVector c51 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys + L) : FloatVector.zero(F);
        FloatVector c60 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys) : FloatVector.zero(F);
        FloatVector c61 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys + L) : FloatVector.zero(F);
        FloatVector c70 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys) : FloatVector.zero(F);
        FloatVector c71 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += FSTEP, x0++) {
            FloatVector lo = FloatVector.fromMemorySegment(F, w, wo, LE), hi = FloatVector.fromMemorySegment(F, w, wo + 4L * L, LE);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c10 = b.fma(lo, c10); c11 = b.fma(hi, c11);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c20 = b.fma(lo, c20); c21 = b.fma(hi, c21);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c30 = b.fma(lo, c30); c31 = b.fma(hi, c31);
            b = FloatVector.broadcast(F, x[x0 + 4 * xs]); c40 = b.fma(lo, c40); c41 = b.fma(hi, c41);
            b = FloatVector.broadcast(F, x[x0 + 5 * xs]); c50 = b.fma(lo, c50); c51 = b.fma(hi, c51);
            b = FloatVector.broadcast(F, x[x0 + 6 * xs]); c60 = b.fma(lo, c60); c61 = b.fma(hi, c61);
            b = FloatVector.broadcast(F, x[x0 + 7 * xs]); c70 = b.fma(lo, c70); c71 = b.fma(hi, c71);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
        c10.intoArray(y, y0 + 1 * ys); c11.intoArray(y, y0 + 1 * ys + L);
        c20.intoArray(y, y0 + 2 * ys); c21.intoArray(y, y0 + 2 * ys + L);
        c30.intoArray(y, y0 + 3 * ys); c31.intoArray(y, y0 + 3 * ys + L);
        c40.intoArray(y, y0 + 4 * ys); c41.intoArray(y, y0 + 4 * ys + L);
        c50.intoArray(y, y0 + 5 * ys); c51.intoArray(y, y0 + 5 * ys + L);
        c60.intoArray(y, y0 + 6 * ys); c61.intoArray(y, y0 + 6 * ys + L);
        c70.intoArray(y, y0 + 7 * ys); c71.intoArray(y, y0 + 7 * ys + L);
    }

    /** A 12-row tile (AVX-512: 24 accumulators, 2 weight vectors, 1 broadcast of 32 registers). */
    private static void rows12(float[] x, int x0, int xs, int k, MemorySegment w, long wo, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c000 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c001 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c010 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c011 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c020 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c021 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c030 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c031 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        FloatVector c040 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys) : FloatVector.zero(F);
        FloatVector c041 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys + L) : FloatVector.zero(F);
        FloatVector c050 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys) : FloatVector.zero(F);
        FloatVector c051 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys + L) : FloatVector.zero(F);
        FloatVector c060 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys) : FloatVector.zero(F);
        FloatVector c061 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys + L) : FloatVector.zero(F);
        FloatVector c070 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys) : FloatVector.zero(F);
        FloatVector c071 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys + L) : FloatVector.zero(F);
        FloatVector c080 = add ? FloatVector.fromArray(F, y, y0 + 8 * ys) : FloatVector.zero(F);
        FloatVector c081 = add ? FloatVector.fromArray(F, y, y0 + 8 * ys + L) : FloatVector.zero(F);
        FloatVector c090 = add ? FloatVector.fromArray(F, y, y0 + 9 * ys) : FloatVector.zero(F);
        FloatVector c091 = add ? FloatVector.fromArray(F, y, y0 + 9 * ys + L) : FloatVector.zero(F);
        FloatVector c100 = add ? FloatVector.fromArray(F, y, y0 + 10 * ys) : FloatVector.zero(F);
        FloatVector c101 = add ? FloatVector.fromArray(F, y, y0 + 10 * ys + L) : FloatVector.zero(F);
        FloatVector c110 = add ? FloatVector.fromArray(F, y, y0 + 11 * ys) : FloatVector.zero(F);
        FloatVector c111 = add ? FloatVector.fromArray(F, y, y0 + 11 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += FSTEP, x0++) {
            FloatVector lo = FloatVector.fromMemorySegment(F, w, wo, LE), hi = FloatVector.fromMemorySegment(F, w, wo + 4L * L, LE);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c000 = b.fma(lo, c000); c001 = b.fma(hi, c001);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c010 = b.fma(lo, c010); c011 = b.fma(hi, c011);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c020 = b.fma(lo, c020); c021 = b.fma(hi, c021);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c030 = b.fma(lo, c030); c031 = b.fma(hi, c031);
            b = FloatVector.broadcast(F, x[x0 + 4 * xs]); c040 = b.fma(lo, c040); c041 = b.fma(hi, c041);
            b = FloatVector.broadcast(F, x[x0 + 5 * xs]); c050 = b.fma(lo, c050); c051 = b.fma(hi, c051);
            b = FloatVector.broadcast(F, x[x0 + 6 * xs]); c060 = b.fma(lo, c060); c061 = b.fma(hi, c061);
            b = FloatVector.broadcast(F, x[x0 + 7 * xs]); c070 = b.fma(lo, c070); c071 = b.fma(hi, c071);
            b = FloatVector.broadcast(F, x[x0 + 8 * xs]); c080 = b.fma(lo, c080); c081 = b.fma(hi, c081);
            b = FloatVector.broadcast(F, x[x0 + 9 * xs]); c090 = b.fma(lo, c090); c091 = b.fma(hi, c091);
            b = FloatVector.broadcast(F, x[x0 + 10 * xs]); c100 = b.fma(lo, c100); c101 = b.fma(hi, c101);
            b = FloatVector.broadcast(F, x[x0 + 11 * xs]); c110 = b.fma(lo, c110); c111 = b.fma(hi, c111);
        }
        c000.intoArray(y, y0); c001.intoArray(y, y0 + L);
        c010.intoArray(y, y0 + 1 * ys); c011.intoArray(y, y0 + 1 * ys + L);
        c020.intoArray(y, y0 + 2 * ys); c021.intoArray(y, y0 + 2 * ys + L);
        c030.intoArray(y, y0 + 3 * ys); c031.intoArray(y, y0 + 3 * ys + L);
        c040.intoArray(y, y0 + 4 * ys); c041.intoArray(y, y0 + 4 * ys + L);
        c050.intoArray(y, y0 + 5 * ys); c051.intoArray(y, y0 + 5 * ys + L);
        c060.intoArray(y, y0 + 6 * ys); c061.intoArray(y, y0 + 6 * ys + L);
        c070.intoArray(y, y0 + 7 * ys); c071.intoArray(y, y0 + 7 * ys + L);
        c080.intoArray(y, y0 + 8 * ys); c081.intoArray(y, y0 + 8 * ys + L);
        c090.intoArray(y, y0 + 9 * ys); c091.intoArray(y, y0 + 9 * ys + L);
        c100.intoArray(y, y0 + 10 * ys); c101.intoArray(y, y0 + 10 * ys + L);
        c110.intoArray(y, y0 + 11 * ys); c111.intoArray(y, y0 + 11 * ys + L);
    }

    /** A 4-row tile of one panel. */
    private static void rows4(float[] x, int x0, int xs, int k, MemorySegment w, long wo, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c10 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c11 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c20 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c21 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c30 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c31 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += FSTEP, x0++) {
            FloatVector lo = FloatVector.fromMemorySegment(F, w, wo, LE), hi = FloatVector.fromMemorySegment(F, w, wo + 4L * L, LE);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c10 = b.fma(lo, c10); c11 = b.fma(hi, c11);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c20 = b.fma(lo, c20); c21 = b.fma(hi, c21);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c30 = b.fma(lo, c30); c31 = b.fma(hi, c31);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
        c10.intoArray(y, y0 + 1 * ys); c11.intoArray(y, y0 + 1 * ys + L);
        c20.intoArray(y, y0 + 2 * ys); c21.intoArray(y, y0 + 2 * ys + L);
        c30.intoArray(y, y0 + 3 * ys); c31.intoArray(y, y0 + 3 * ys + L);
    }

    /** One row of one panel (xs unused). */
    private static void row1(float[] x, int x0, int xs, int k, MemorySegment w, long wo, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += FSTEP, x0++) {
            FloatVector lo = FloatVector.fromMemorySegment(F, w, wo, LE), hi = FloatVector.fromMemorySegment(F, w, wo + 4L * L, LE);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
    }

    /**
     * {@link #rows8} on a BF16 panel, each panel row widened in registers (one shift, one and): x[r, c] at x0 + r*xs + c (r < 8), outputs at y0 + r*ys; the
     * chains start at zero, or, when {@code add}, at the values in y (the previous K block's).
     */
    private static void rows8BF16(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c10 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c11 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c20 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c21 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c30 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c31 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        FloatVector c40 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys) : FloatVector.zero(F);
        FloatVector c41 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys + L) : FloatVector.zero(F);
        FloatVector c50 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys) : FloatVector.zero(F);
        FloatVector c51 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys + L) : FloatVector.zero(F);
        FloatVector c60 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys) : FloatVector.zero(F);
        FloatVector c61 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys + L) : FloatVector.zero(F);
        FloatVector c70 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys) : FloatVector.zero(F);
        FloatVector c71 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            IntVector words = IntVector.fromMemorySegment(I, w, wo, LE);
            FloatVector lo = words.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), hi = words.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c10 = b.fma(lo, c10); c11 = b.fma(hi, c11);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c20 = b.fma(lo, c20); c21 = b.fma(hi, c21);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c30 = b.fma(lo, c30); c31 = b.fma(hi, c31);
            b = FloatVector.broadcast(F, x[x0 + 4 * xs]); c40 = b.fma(lo, c40); c41 = b.fma(hi, c41);
            b = FloatVector.broadcast(F, x[x0 + 5 * xs]); c50 = b.fma(lo, c50); c51 = b.fma(hi, c51);
            b = FloatVector.broadcast(F, x[x0 + 6 * xs]); c60 = b.fma(lo, c60); c61 = b.fma(hi, c61);
            b = FloatVector.broadcast(F, x[x0 + 7 * xs]); c70 = b.fma(lo, c70); c71 = b.fma(hi, c71);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
        c10.intoArray(y, y0 + 1 * ys); c11.intoArray(y, y0 + 1 * ys + L);
        c20.intoArray(y, y0 + 2 * ys); c21.intoArray(y, y0 + 2 * ys + L);
        c30.intoArray(y, y0 + 3 * ys); c31.intoArray(y, y0 + 3 * ys + L);
        c40.intoArray(y, y0 + 4 * ys); c41.intoArray(y, y0 + 4 * ys + L);
        c50.intoArray(y, y0 + 5 * ys); c51.intoArray(y, y0 + 5 * ys + L);
        c60.intoArray(y, y0 + 6 * ys); c61.intoArray(y, y0 + 6 * ys + L);
        c70.intoArray(y, y0 + 7 * ys); c71.intoArray(y, y0 + 7 * ys + L);
    }

    /** {@link #rows12} on a BF16 panel. */
    private static void rows12BF16(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c000 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c001 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c010 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c011 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c020 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c021 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c030 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c031 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        FloatVector c040 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys) : FloatVector.zero(F);
        FloatVector c041 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys + L) : FloatVector.zero(F);
        FloatVector c050 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys) : FloatVector.zero(F);
        FloatVector c051 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys + L) : FloatVector.zero(F);
        FloatVector c060 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys) : FloatVector.zero(F);
        FloatVector c061 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys + L) : FloatVector.zero(F);
        FloatVector c070 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys) : FloatVector.zero(F);
        FloatVector c071 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys + L) : FloatVector.zero(F);
        FloatVector c080 = add ? FloatVector.fromArray(F, y, y0 + 8 * ys) : FloatVector.zero(F);
        FloatVector c081 = add ? FloatVector.fromArray(F, y, y0 + 8 * ys + L) : FloatVector.zero(F);
        FloatVector c090 = add ? FloatVector.fromArray(F, y, y0 + 9 * ys) : FloatVector.zero(F);
        FloatVector c091 = add ? FloatVector.fromArray(F, y, y0 + 9 * ys + L) : FloatVector.zero(F);
        FloatVector c100 = add ? FloatVector.fromArray(F, y, y0 + 10 * ys) : FloatVector.zero(F);
        FloatVector c101 = add ? FloatVector.fromArray(F, y, y0 + 10 * ys + L) : FloatVector.zero(F);
        FloatVector c110 = add ? FloatVector.fromArray(F, y, y0 + 11 * ys) : FloatVector.zero(F);
        FloatVector c111 = add ? FloatVector.fromArray(F, y, y0 + 11 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            IntVector words = IntVector.fromMemorySegment(I, w, wo, LE);
            FloatVector lo = words.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), hi = words.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c000 = b.fma(lo, c000); c001 = b.fma(hi, c001);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c010 = b.fma(lo, c010); c011 = b.fma(hi, c011);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c020 = b.fma(lo, c020); c021 = b.fma(hi, c021);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c030 = b.fma(lo, c030); c031 = b.fma(hi, c031);
            b = FloatVector.broadcast(F, x[x0 + 4 * xs]); c040 = b.fma(lo, c040); c041 = b.fma(hi, c041);
            b = FloatVector.broadcast(F, x[x0 + 5 * xs]); c050 = b.fma(lo, c050); c051 = b.fma(hi, c051);
            b = FloatVector.broadcast(F, x[x0 + 6 * xs]); c060 = b.fma(lo, c060); c061 = b.fma(hi, c061);
            b = FloatVector.broadcast(F, x[x0 + 7 * xs]); c070 = b.fma(lo, c070); c071 = b.fma(hi, c071);
            b = FloatVector.broadcast(F, x[x0 + 8 * xs]); c080 = b.fma(lo, c080); c081 = b.fma(hi, c081);
            b = FloatVector.broadcast(F, x[x0 + 9 * xs]); c090 = b.fma(lo, c090); c091 = b.fma(hi, c091);
            b = FloatVector.broadcast(F, x[x0 + 10 * xs]); c100 = b.fma(lo, c100); c101 = b.fma(hi, c101);
            b = FloatVector.broadcast(F, x[x0 + 11 * xs]); c110 = b.fma(lo, c110); c111 = b.fma(hi, c111);
        }
        c000.intoArray(y, y0); c001.intoArray(y, y0 + L);
        c010.intoArray(y, y0 + 1 * ys); c011.intoArray(y, y0 + 1 * ys + L);
        c020.intoArray(y, y0 + 2 * ys); c021.intoArray(y, y0 + 2 * ys + L);
        c030.intoArray(y, y0 + 3 * ys); c031.intoArray(y, y0 + 3 * ys + L);
        c040.intoArray(y, y0 + 4 * ys); c041.intoArray(y, y0 + 4 * ys + L);
        c050.intoArray(y, y0 + 5 * ys); c051.intoArray(y, y0 + 5 * ys + L);
        c060.intoArray(y, y0 + 6 * ys); c061.intoArray(y, y0 + 6 * ys + L);
        c070.intoArray(y, y0 + 7 * ys); c071.intoArray(y, y0 + 7 * ys + L);
        c080.intoArray(y, y0 + 8 * ys); c081.intoArray(y, y0 + 8 * ys + L);
        c090.intoArray(y, y0 + 9 * ys); c091.intoArray(y, y0 + 9 * ys + L);
        c100.intoArray(y, y0 + 10 * ys); c101.intoArray(y, y0 + 10 * ys + L);
        c110.intoArray(y, y0 + 11 * ys); c111.intoArray(y, y0 + 11 * ys + L);
    }

    /** {@link #rows4} on a BF16 panel. */
    private static void rows4BF16(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c10 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c11 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c20 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c21 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c30 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c31 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            IntVector words = IntVector.fromMemorySegment(I, w, wo, LE);
            FloatVector lo = words.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), hi = words.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c10 = b.fma(lo, c10); c11 = b.fma(hi, c11);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c20 = b.fma(lo, c20); c21 = b.fma(hi, c21);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c30 = b.fma(lo, c30); c31 = b.fma(hi, c31);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
        c10.intoArray(y, y0 + 1 * ys); c11.intoArray(y, y0 + 1 * ys + L);
        c20.intoArray(y, y0 + 2 * ys); c21.intoArray(y, y0 + 2 * ys + L);
        c30.intoArray(y, y0 + 3 * ys); c31.intoArray(y, y0 + 3 * ys + L);
    }

    /** {@link #row1} on a BF16 panel. */
    private static void row1BF16(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            IntVector words = IntVector.fromMemorySegment(I, w, wo, LE);
            FloatVector lo = words.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), hi = words.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
    }

    /** One row of four consecutive BF16 panels ({@code pstep} bytes apart), widened as read: eight independent chains (decode). */
    private static void row1x4BF16(float[] x, int x0, int k, MemorySegment w, long wo, long pstep, long step, float[] y, int y0) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), b0 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), d0 = FloatVector.zero(F), d1 = FloatVector.zero(F);
        long wa = wo, wb = wo + pstep, wc = wb + pstep, wd = wc + pstep;
        for (int c = 0; c < k; c++, wa += step, wb += step, wc += step, wd += step) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + c]);
            a0 = v.fma(loBF16(w, wa), a0); a1 = v.fma(hiBF16(w, wa), a1);
            b0 = v.fma(loBF16(w, wb), b0); b1 = v.fma(hiBF16(w, wb), b1);
            c0 = v.fma(loBF16(w, wc), c0); c1 = v.fma(hiBF16(w, wc), c1);
            d0 = v.fma(loBF16(w, wd), d0); d1 = v.fma(hiBF16(w, wd), d1);
        }
        a0.intoArray(y, y0); a1.intoArray(y, y0 + L);
        b0.intoArray(y, y0 + NR); b1.intoArray(y, y0 + NR + L);
        c0.intoArray(y, y0 + 2 * NR); c1.intoArray(y, y0 + 2 * NR + L);
        d0.intoArray(y, y0 + 3 * NR); d1.intoArray(y, y0 + 3 * NR + L);
    }

    /** One row of four consecutive F32 panels ({@code pstep} bytes apart): eight independent chains (decode). */
    private static void row1x4F32(float[] x, int x0, int k, MemorySegment w, long wo, long pstep, float[] y, int y0) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), b0 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), d0 = FloatVector.zero(F), d1 = FloatVector.zero(F);
        long wa = wo, wb = wo + pstep, wc = wb + pstep, wd = wc + pstep, h = 4L * L;
        for (int c = 0; c < k; c++, wa += FSTEP, wb += FSTEP, wc += FSTEP, wd += FSTEP) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + c]);
            a0 = v.fma(FloatVector.fromMemorySegment(F, w, wa, LE), a0); a1 = v.fma(FloatVector.fromMemorySegment(F, w, wa + h, LE), a1);
            b0 = v.fma(FloatVector.fromMemorySegment(F, w, wb, LE), b0); b1 = v.fma(FloatVector.fromMemorySegment(F, w, wb + h, LE), b1);
            c0 = v.fma(FloatVector.fromMemorySegment(F, w, wc, LE), c0); c1 = v.fma(FloatVector.fromMemorySegment(F, w, wc + h, LE), c1);
            d0 = v.fma(FloatVector.fromMemorySegment(F, w, wd, LE), d0); d1 = v.fma(FloatVector.fromMemorySegment(F, w, wd + h, LE), d1);
        }
        a0.intoArray(y, y0); a1.intoArray(y, y0 + L);
        b0.intoArray(y, y0 + NR); b1.intoArray(y, y0 + NR + L);
        c0.intoArray(y, y0 + 2 * NR); c1.intoArray(y, y0 + 2 * NR + L);
        d0.intoArray(y, y0 + 3 * NR); d1.intoArray(y, y0 + 3 * NR + L);
    }

    private static final FloatVector TWO_112 = FloatVector.broadcast(F, 0x1p112f);
    /** fp32 bits 13..27 and 31: where {@link #evenF16} / {@link #oddF16} put a half's exponent, mantissa and sign. */
    private static final IntVector F16_BITS = IntVector.broadcast(I, 0x8FFFE000);

    /**
     * L IEEE halves to fp32, exactly, as {@link Float#float16ToFloat}: of the L little-endian ints at
     * byte o of w, the low halves, or when {@code high} the high ones. The exponent and mantissa
     * moved into fp32 position are the value times 2^-112 (subnormal halves land on fp32
     * subnormals, exactly), so one multiply by 2^112 rescales every finite value; infinities and
     * NaNs (exponent 31) get fp32's all-ones exponent; the sign is moved last.
     *
     */
    static FloatVector f16ToF32(MemorySegment w, long o, boolean high) {
        IntVector words = IntVector.fromMemorySegment(I, w, o, LE);
        IntVector h = high ? words.lanewise(VectorOperators.LSHR, 16) : words.and(0xFFFF);
        IntVector magnitude = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        FloatVector v = magnitude.reinterpretAsFloats().mul(TWO_112);
        IntVector bits = v.reinterpretAsInts();
        bits = bits.blend(magnitude.or(0x7F800000), h.and(0x7C00).compare(VectorOperators.EQ, 0x7C00));
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    private static void scalar(float[] x, int rows, int k, Matrix w, int n, int n0, int n1, float[] bias, float[] y) {
        float[] row = new float[k];
        for (int j = n0; j < n1; j++) {
            w.row(j, row, 0);
            for (int r = 0; r < rows; r++) {
                float s = 0;
                for (int c = 0; c < k; c++) s += x[r * k + c] * row[c];
                y[r * n + j] = bias == null ? s : s + bias[j];
            }
        }
    }
}
