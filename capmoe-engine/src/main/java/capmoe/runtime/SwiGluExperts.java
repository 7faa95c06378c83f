package capmoe.runtime;

import capmoe.kernels.Activations;
import capmoe.kernels.DotMode;
import capmoe.kernels.GgmlOps;
import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.kernels.Panels;
import capmoe.kernels.Parallel;
import capmoe.kernels.ReducedMatMul;
import capmoe.runtime.moe.Dispatch;

import java.util.List;

/**
 * Routed experts stored as separate gate/up/down matrices per expert (the hub layout of OLMoE,
 * Mixtral w1/w3/w2, Qwen-MoE, DeepSeek), used in place from the checkpoint.
 *
 * <p>{@link #runAll} is the Experts stage of a whole layer call as two grouped GEMMs, every
 * expert's projections in one parallel phase (as llama.cpp's {@code ggml_mul_mat_id} does one
 * op over all experts), work split over (expert, row block, column tile) so that 2 or 16
 * threads stay busy when one expert is hot and when there is one token:
 * <ol>
 *   <li>gather: each slot's row of x into one matrix, the experts' rows one after another
 *       (Q8_0/Q4_0: rounded, {@link Gemms#gather}; phase over slots);</li>
 *   <li>gate/up with SwiGLU fused into the epilogue: per task, {@link Gemms#gemm} gives a block of
 *       gate and of up columns for the task's rows (a tile that stays in cache), and
 *       {@code silu(g) * u} is written straight into the hidden buffer (Q8_0/Q4_0: then rounded,
 *       {@link Gemms#hidden}; phase over (expert, rows, I-tile));</li>
 *   <li>down: the hidden rows times down^T into y at the experts' slots (phase over (expert, rows, H-tile)).</li>
 * </ol>
 * A decode call (a few rows per expert) whose experts spread evenly over the team runs steps 2
 * and 3 as one phase of one task per expert instead ({@link #perExpert}).
 * Each output element is computed in exactly the order of {@link #apply} ({@link MatMul}'s
 * accumulation order, {@link Activations#siluMul}'s formula), so the two give the same bits and
 * a row's result never depends on which rows are grouped with it.
 *
 * <p>The weight format changes only the GEMM calls and the rounding of activations ({@link Gemms}):
 * BF16/F16/F32 experts take {@link FloatGemms}, Q8_0/Q4_0 experts {@link QuantizedExperts}, under
 * the same bit-for-bit contract with {@link #apply}.
 */
public final class SwiGluExperts implements Experts {

    /** One expert: gate [I x H], up [I x H], down [H x I]. */
    public record Expert(Matrix gate, Matrix up, Matrix down) { }

    /**
     * Columns per task of a grouped phase (a multiple of {@link capmoe.kernels.Panels#NR}): 64
     * gate+up columns of H=2048 bf16 are 512 KB of weights (an L2's worth).
     */
    private static final int TILE_COLUMNS = 64;
    /** Rows per task of a grouped phase (rows of x kept in cache while the tile's weights stream past). */
    private static final int BLOCK_ROWS = 64;

    private final List<Expert> experts;
    private final int hidden;
    private final int intermediate;
    /** The grouped kernels' dtype-specific part, or null when the experts' dtypes mix (then one expert after another). */
    private final Gemms gemms;
    /**
     * {@code --dot reduced}: SwiGLU as llama.cpp computes it ({@link GgmlOps#swiglu}) and the combine in
     * llama.cpp's order ({@link #combineByWeight}).
     */
    private final boolean ggml;

    /** Per calling thread: the grouped stage's buffers, grown as needed, never shrunk. */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);
    /** Per team thread: one gate/up task's gate and up blocks, [BLOCK_ROWS x TILE_COLUMNS] each. */
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[2 * BLOCK_ROWS * TILE_COLUMNS]);
    /** Per team thread: a decode task's gate and up rows, [rows x I] each. */
    private static final ThreadLocal<float[]> DECODE = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * The grouped stage's buffers, rows = the call's kept pairs of the given experts (P'):
     * {@code x} [P' x H] the slots' input rows ({@link Gemms#gather}), at row stride {@code xs}: {@link MatMul#stride}(H)
     * floats, or for {@link FloatGemms#REDUCED_BF16} each row rounded to bf16 once in the kernel's form,
     * {@link ReducedMatMul#preparedWords}(H) 32-bit words of two bf16 each (stored in the float[]) per row;
     * {@code act} [P' x I] silu(gate)*up of each slot ({@link Gemms#hidden}), at row stride {@link MatMul#stride}(I);
     * {@code aw} [P' x {@link ReducedMatMul#preparedWords}(I) words] {@link FloatGemms#REDUCED_BF16} only: act's rows
     * rounded to bf16 in the kernel's form, each task preparing the columns it wrote, what the down projection reads
     * (so every H-tile of the down phase reads it, none rounds act again);
     * {@code base} [E] each listed expert's first row in x/act.
     */
    private static final class Scratch {
        float[] x = new float[0], act = new float[0], aw = new float[0];
        int xs;                                 // the running call's row stride of x (see above)
        int[] base = new int[0];
        int[] token = new int[0];               // [P'] the token (row of x) of each row
        int[] tasks = new int[0];               // (list index, row block, column tile) packed per task, see #tasks
        int[] busy = new int[0];                // [experts with rows] their list indices, for a decode call's per-expert phase
        int busyCount;
        // the running call, read by the gather and per-expert phase bodies below (kept bodies: a decode
        // step allocates no lambda per call); cleared when the call ends
        SwiGluExperts owner;
        Gemms gemms;
        Dispatch d;
        int[] list;
        float[] in, out;
        final Parallel.Range gather = this::gather;
        final Parallel.Task perExpert = this::perExpert;

        /** Step 1 on slots [r0, r1): each slot's row of the call's input into the gathered matrix. */
        private void gather(int r0, int r1) {
            int h = owner.hidden;
            for (int r = r0; r < r1; r++) gemms.gather(in, token[r] * h, h, x, r * xs);
        }

        /** Steps 2-3 of a decode call for expert busy[t]: gate/up over all I columns, SwiGLU, down over all H columns. */
        private void perExpert(int t) {
            int i = busy[t], m = d.rows(list[i]), row = base[i], h = owner.hidden, n = owner.intermediate;
            Expert e = owner.experts.get(list[i]);
            float[] gu = DECODE.get();
            if (gu.length < 2 * m * n) DECODE.set(gu = new float[2 * m * n]);
            float[] a = gemms.preparedWords(n) > 0 ? aw : null;
            owner.gateUp(gemms, e, x, xs, row, m, 0, n, gu, n, act, a);
            int as = gemms.rowStride(n);
            gemms.gemm(a != null ? a : act, row * as, as, m, e.down(), 0, h, out, d.start(list[i]) * h, h);
        }

        void clear() {
            owner = null;
            gemms = null;
            d = null;
            list = null;
            in = null;
            out = null;
        }
    }

    /**
     * What {@link #runAll} does differently per weight format, and nothing else: the task layout,
     * gather, SwiGLU epilogue, down projection and scatter are shared. {@link FloatGemms} for
     * BF16/F16/F32 panels ({@link MatMul#gemm}), {@link QuantizedExperts} for Q8_0/Q4_0
     * ({@link capmoe.kernels.QuantMatMul#gemm}, with its two roundings of activations).
     */
    sealed interface Gemms permits FloatGemms, QuantizedExperts {
        /** Step 1: one slot's input row {@code x[xo .. xo+h)} into the gathered matrix at {@code out[oo ..]}. */
        void gather(float[] x, int xo, int h, float[] out, int oo);

        /**
         * Steps 2-3: {@code y[y0 + r*ys + j - j0] = x_r · w[j]} for rows r < {@code rows} of x (row
         * r at {@code x0 + r*xs}) and columns j in [j0, j1), on the calling thread ({@code j0} a
         * multiple of {@link Panels#NR}).
         */
        void gemm(float[] x, int x0, int xs, int rows, Matrix w, int j0, int j1, float[] y, int y0, int ys);

        /** End of step 2: {@code act[o .. o+n)}, SwiGLU outputs of one hidden row, made what the down projection reads (in place). */
        void hidden(float[] act, int o, int n);

        /**
         * 0 when {@link #gemm} reads rows of K floats; else the 32-bit words of one row of K
         * activations in the form {@link #gemm} reads instead ({@link FloatGemms#REDUCED_BF16}:
         * {@link #gather} writes that form, and the hidden rows are prepared into {@code Scratch.aw}).
         */
        default int preparedWords(int k) { return 0; }

        /** Row stride of K activations as {@link #gemm} reads them: {@link #preparedWords}(K) words when that is not 0, else {@link MatMul#stride}(K) floats. */
        default int rowStride(int k) {
            int w = preparedWords(k);
            return w > 0 ? w : MatMul.stride(k);
        }
    }

    /**
     * BF16/F16/F32 experts: rows gathered as they are, {@link MatMul#gemm(float[], int, int, int, Matrix, int, int, float[], int, int)}
     * on each matrix in its {@code --dot} mode (exact: its panels; reduced BF16: the native kernel).
     */
    enum FloatGemms implements Gemms {
        INSTANCE,
        /**
         * Every matrix reduced BF16: {@link ReducedMatMul}'s kernel in {@code ggml_vec_dot_bf16}'s
         * order (as {@link MatMul#matmulExpert}), on rows rounded to bf16 once
         * ({@link ReducedMatMul#prepare}: when gathered, and the hidden rows as their tiles are
         * written) instead of once per column tile; the same rounding and kernel, so the same bits.
         */
        REDUCED_BF16 {
            @Override
            public void gather(float[] x, int xo, int h, float[] out, int oo) { ReducedMatMul.prepare(x, xo, h, 0, h, out, oo); }

            @Override
            public void gemm(float[] x, int x0, int xs, int rows, Matrix w, int j0, int j1, float[] y, int y0, int ys) {
                ReducedMatMul.gemmPrepared(ReducedMatMul.Order.VEC_DOT, x, x0, xs, rows, w.pairPanels(), j0, j1, y, y0, ys);
            }

            @Override
            public int preparedWords(int k) { return ReducedMatMul.preparedWords(k); }
        };

        @Override
        public void gather(float[] x, int xo, int h, float[] out, int oo) { System.arraycopy(x, xo, out, oo, h); }

        @Override
        public void gemm(float[] x, int x0, int xs, int rows, Matrix w, int j0, int j1, float[] y, int y0, int ys) {
            MatMul.gemm(x, x0, xs, rows, w, j0, j1, y, y0, ys);
        }

        @Override
        public void hidden(float[] act, int o, int n) { }
    }

    public SwiGluExperts(List<Expert> experts, int hidden, int intermediate) {
        this.experts = List.copyOf(experts);
        this.hidden = hidden;
        this.intermediate = intermediate;
        boolean g = true;
        for (Expert e : this.experts) {
            g &= Panels.supports(e.gate().dtype()) && Panels.supports(e.up().dtype()) && Panels.supports(e.down().dtype());
        }
        boolean bf16 = !this.experts.isEmpty();
        for (Expert e : this.experts) bf16 &= e.gate().reducedBf16() && e.up().reducedBf16() && e.down().reducedBf16();
        this.gemms = QuantizedExperts.applies(this.experts) ? QuantizedExperts.of(this.experts)
                : bf16 ? FloatGemms.REDUCED_BF16 : g ? FloatGemms.INSTANCE : null;
        this.ggml = !this.experts.isEmpty() && this.experts.get(0).gate().dot() == DotMode.REDUCED;
    }

    @Override
    public boolean combineByWeight() { return ggml; }

    @Override
    public int count() { return experts.size(); }

    @Override
    public int hidden() { return hidden; }

    public int intermediate() { return intermediate; }

    public Expert expert(int i) { return experts.get(i); }

    @Override
    public void apply(int expert, float[] x, float[] y, int rows) {
        Expert e = experts.get(expert);
        float[] g = new float[rows * intermediate];
        float[] u = new float[rows * intermediate];
        MatMul.matmulExpert(x, rows, e.gate(), g);
        MatMul.matmulExpert(x, rows, e.up(), u);
        if (ggml) for (int r = 0; r < rows; r++) GgmlOps.swiglu(g, r * intermediate, u, r * intermediate, intermediate);
        else Activations.siluMul(g, u, rows * intermediate);
        MatMul.matmulExpert(g, rows, e.down(), y);
    }

    @Override
    public void runAll(Dispatch d, int[] list, float[] x, float[] y) {
        if (gemms == null) {
            Experts.super.runAll(d, list, x, y);
            return;
        }
        Gemms g = gemms;
        int h = hidden, in = intermediate, is = MatMul.stride(in), as = g.preparedWords(in);
        int hs = g.rowStride(h);
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
        if (s.aw.length < rows * as) s.aw = new float[rows * as];
        s.xs = hs;
        if (s.token.length < rows) s.token = new int[rows];
        float[] xs = s.x, act = s.act, aw = as > 0 ? s.aw : null;
        int[] base = s.base, token = s.token;
        for (int i = 0; i < list.length; i++) {
            for (int r = 0; r < d.rows(list[i]); r++) token[base[i] + r] = d.token(d.start(list[i]) + r);
        }
        Parallel pool = Parallel.current();
        s.owner = this;
        s.gemms = g;
        s.d = d;
        s.list = list;
        s.in = x;
        s.out = y;
        try {
            // 1. gather, a phase over slots
            pool.forRange(rows, 8, s.gather);
            PhaseClock.lap(PhaseClock.Phase.DISPATCH);

            // 2-3 at decode: one phase of one task per expert, when that keeps the team evenly busy
            if (perExpert(s, d, list, pool.threads())) {
                pool.forEach(s.busyCount, s.perExpert);
                return;
            }
        } finally {
            s.clear();
        }

        // 2. gate/up + SwiGLU into act, a phase over (expert, rows, I-tile)
        int n1 = tasks(s, d, list, in);
        int[] t1 = s.tasks;
        pool.forEach(n1, t -> {
            int i = t1[3 * t], r0 = t1[3 * t + 1], j0 = t1[3 * t + 2];
            int m = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS) - r0;
            gateUp(g, experts.get(list[i]), xs, hs, base[i] + r0, m, j0, Math.min(in, j0 + TILE_COLUMNS), TILE.get(), TILE_COLUMNS, act, aw);
        });

        // 3. down into y at the experts' slots, a phase over (expert, rows, H-tile), from act or its prepared rows
        int n2 = tasks(s, d, list, h);
        int[] t2 = s.tasks;
        float[] down = aw != null ? aw : act;
        int ds = g.rowStride(in);
        pool.forEach(n2, t -> {
            int i = t2[3 * t], r0 = t2[3 * t + 1], j0 = t2[3 * t + 2];
            int m = Math.min(d.rows(list[i]), r0 + BLOCK_ROWS) - r0, j1 = Math.min(h, j0 + TILE_COLUMNS);
            g.gemm(down, (base[i] + r0) * ds, ds, m, experts.get(list[i]).down(), j0, j1,
                    y, (d.start(list[i]) + r0) * h + j0, h);
        });
    }

    /**
     * Step 2 for one task: rows {@code row .. row+m) of the gathered x (row stride {@code hs}) times columns [j0, j1) of
     * e's gate and up into {@code buf} (gate block at 0, up block at {@code m * ld}, row stride
     * {@code ld}), then {@code silu(g) * u} into the same columns of those rows of {@code act}
     * (row stride {@link MatMul#stride}(I)), finished for the down projection by
     * {@link Gemms#hidden}, and, when {@code aw} is not null, those columns rounded once into the rows'
     * prepared form in {@code aw} (row stride {@link Gemms#preparedWords}(I)) for the down projection.
     */
    private void gateUp(Gemms g, Expert e, float[] xs, int hs, int row, int m, int j0, int j1, float[] buf, int ld, float[] act, float[] aw) {
        int is = MatMul.stride(intermediate), w = j1 - j0, up = m * ld;
        g.gemm(xs, row * hs, hs, m, e.gate(), j0, j1, buf, 0, ld);
        g.gemm(xs, row * hs, hs, m, e.up(), j0, j1, buf, up, ld);
        for (int q = 0; q < m; q++) {
            int o = (row + q) * is + j0;
            if (ggml) for (int j = 0; j < w; j++) act[o + j] = GgmlOps.swiglu(buf[q * ld + j], buf[up + q * ld + j], j0 + j, intermediate);
            else for (int j = 0; j < w; j++) act[o + j] = Activations.silu(buf[q * ld + j]) * buf[up + q * ld + j];
            g.hidden(act, o, w);
            if (aw != null) ReducedMatMul.prepare(act, o - j0, intermediate, j0, j1, aw, (row + q) * g.preparedWords(intermediate));
        }
    }

    /**
     * Whether this call runs as one phase of one task per expert ({@code s.busy[0 .. busyCount)}:
     * the list indices of experts with rows): a decode call, every expert's rows on
     * {@link MatMul#gemm}'s few-row path (fewer than TILE_ROWS/2), and the experts spread over the
     * team's threads within 25% of even (2 threads: any even count; 16 threads with top-8 experts:
     * no, the (expert, rows, tile) phases keep all 16 busy). A task then runs its expert's gate/up
     * over all I columns, SwiGLU and down over all H columns: each output element is the same
     * chain as in the tiled phases, so the bits are the same, with one hand-off instead of two and
     * whole rows for the four-panel decode kernel.
     */
    private static boolean perExpert(Scratch s, Dispatch d, int[] list, int threads) {
        if (s.busy.length < list.length) s.busy = new int[list.length];
        int n = 0;
        for (int i = 0; i < list.length; i++) {
            int m = d.rows(list[i]);
            if (m >= MatMul.TILE_ROWS / 2) return false;
            if (m > 0) s.busy[n++] = i;
        }
        s.busyCount = n;
        int perThread = (n + threads - 1) / threads;
        return n > 0 && 4L * perThread * threads <= 5L * n;
    }

    /** Fills {@code s.tasks} as {@link #fillTasks} does (row blocks of BLOCK_ROWS, tiles of TILE_COLUMNS); returns the number of tasks. */
    private static int tasks(Scratch s, Dispatch d, int[] list, int columns) {
        int n = taskCount(d, list, BLOCK_ROWS, columns, TILE_COLUMNS);
        if (s.tasks.length < 3 * n) s.tasks = new int[3 * n];
        fillTasks(s.tasks, d, list, BLOCK_ROWS, columns, TILE_COLUMNS);
        return n;
    }

    /** The number of tasks {@link #fillTasks} writes. */
    static int taskCount(Dispatch d, int[] list, int blockRows, int columns, int tile) {
        int tiles = (columns + tile - 1) / tile, n = 0;
        for (int e : list) n += (d.rows(e) + blockRows - 1) / blockRows * tiles;
        return n;
    }

    /**
     * Writes one (list index, first row, first column) triple per task into {@code out} (at least
     * 3 × {@link #taskCount} ints) over the listed experts' rows (blocks of {@code blockRows}) and
     * {@code columns} (tiles of {@code tile}), expert by expert, rows before columns. Shared with
     * {@link QuantizedExperts}.
     */
    static void fillTasks(int[] out, Dispatch d, int[] list, int blockRows, int columns, int tile) {
        int k = 0;
        for (int i = 0; i < list.length; i++) {
            for (int r = 0; r < d.rows(list[i]); r += blockRows) {
                for (int j = 0; j < columns; j += tile) {
                    out[k++] = i;
                    out[k++] = r;
                    out[k++] = j;
                }
            }
        }
    }
}
