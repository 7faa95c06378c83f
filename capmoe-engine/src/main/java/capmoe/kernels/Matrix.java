package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.Quantizer;

import java.lang.foreign.MemorySegment;

/**
 * A weight matrix [rows x cols], row-major, read in place from the (memory-mapped) checkpoint in
 * its stored dtype. HF Linear layout: rows = out_features, cols = in_features. In the block formats
 * (Q8_0, Q4_0) every row is cols/32 whole blocks ({@link Quantizer}).
 *
 * <p>A class rather than a record for one reason: it owns the {@link Panels} copy that
 * {@link MatMul} multiplies by (BF16/F16/F32; {@link QuantPanels} for Q8_0/Q4_0), built once: at load for a checkpoint's matrices
 * ({@code Checkpoint.matrix}), else on the first matmul; a matrix only read by rows (the
 * embedding table) never pays for it.
 *
 * <p>A Q8_0/Q4_0 matrix that has panels keeps only them ({@link #ofPanels}): the row-major blocks
 * it was packed from are dropped, so its weights take the format's bytes once, not twice;
 * {@link #get} and {@link #row} then read the panels ({@link QuantPanels#get}, the same exact
 * d·q), and {@link #data} has nothing to give.
 *
 * <p>Its {@link DotMode} (from {@code --dot}, at load) says which arithmetic multiplies by it: a BF16
 * matrix in {@link DotMode#REDUCED} has {@link PairPanels} instead ({@link #pairPanels}, for
 * {@link ReducedMatMul}); a Q8_0/Q4_0 one has {@link QuantDotPanels} instead of {@link QuantPanels}
 * ({@link #packedQuantized}, {@link #quantDotPanels}, for {@link QuantDot}; {@link QuantMatMul#matmul} dispatches).
 */
public final class Matrix {
    private final String name;
    private final DType dtype;
    private final int rows;
    private final int cols;
    private final MemorySegment data;
    private final DotMode dot;
    /** The weights in each layout a kernel multiplies from, each built on first use (or given at construction). */
    private final Packed<Panels> panels = new Packed<>();
    private final Packed<QuantPanels> quantPanels = new Packed<>();
    private final Packed<PairPanels> pairPanels = new Packed<>();
    private final Packed<QuantDotPanels> quantDotPanels = new Packed<>();

    /**
     * One layout of the weights, packed once from the matrix on its first use, thread-safe
     * (double-checked); the packer is a non-capturing method reference, so a call allocates nothing.
     */
    private static final class Packed<T> {
        private volatile T value;

        T get(Matrix m, java.util.function.Function<Matrix, T> pack) {
            T v = value;
            if (v == null) {
                synchronized (this) {
                    v = value;
                    if (v == null) value = v = pack.apply(m);
                }
            }
            return v;
        }

        /** The layout if built, else null. */
        T built() { return value; }
    }

    /** A matrix over its row-major bytes {@code data} (read in place), packed on its first matmul; {@link DotMode#EXACT}. */
    public Matrix(String name, DType dtype, int rows, int cols, MemorySegment data) {
        this(name, dtype, rows, cols, data, DotMode.EXACT);
    }

    /** A matrix over its row-major bytes {@code data} (read in place) multiplied in the arithmetic of {@code dot}, packed on its first matmul. */
    public Matrix(String name, DType dtype, int rows, int cols, MemorySegment data, DotMode dot) {
        if (dtype.quantized() && cols % dtype.blockSize() != 0) {
            throw new IllegalArgumentException("matrix " + name + ": " + dtype + " needs a multiple of "
                    + dtype.blockSize() + " columns, got [" + rows + " x " + cols + "]");
        }
        if (data.byteSize() != dtype.bytes((long) rows * cols)) {
            throw new IllegalArgumentException("matrix " + name + ": " + data.byteSize() + " bytes for "
                    + dtype + " [" + rows + " x " + cols + "]");
        }
        this.name = name;
        this.dtype = dtype;
        this.rows = rows;
        this.cols = cols;
        this.data = data;
        this.dot = java.util.Objects.requireNonNull(dot, "dot");
    }

    private Matrix(String name, QuantPanels panels, DotMode dot) {
        this.name = name;
        this.dtype = panels.dtype();
        this.rows = panels.n();
        this.cols = panels.k();
        this.data = null;
        this.quantPanels.value = panels;
        this.dot = java.util.Objects.requireNonNull(dot, "dot");
    }

    private Matrix(String name, QuantDotPanels panels) {
        this.name = name;
        this.dtype = panels.dtype();
        this.rows = panels.n();
        this.cols = panels.k();
        this.data = null;
        this.quantDotPanels.value = panels;
        this.dot = DotMode.REDUCED;
    }

    /**
     * The Q8_0/Q4_0 matrix {@code rowMajor} held only in the layout its mode multiplies from, packed
     * from its row-major blocks (which the caller may then free): {@link QuantPanels} for
     * {@link DotMode#EXACT} ({@link QuantMatMul}), {@link QuantDotPanels} for {@link DotMode#REDUCED}
     * ({@link QuantDot}); either way the format's bytes once.
     */
    public static Matrix packedQuantized(Matrix rowMajor, DotMode dot) {
        return dot == DotMode.REDUCED ? new Matrix(rowMajor.name(), QuantDotPanels.pack(rowMajor))
                : new Matrix(rowMajor.name(), QuantPanels.pack(rowMajor), dot);
    }

    /**
     * A Q8_0/Q4_0 matrix held only as its panels (made by {@link QuantPanels#pack} from row-major
     * blocks the caller may then free): its weights take the format's bytes once.
     */
    public static Matrix ofPanels(String name, QuantPanels panels) {
        return new Matrix(name, panels, DotMode.EXACT);
    }

    /** {@link #ofPanels(String, QuantPanels)} multiplied in the arithmetic of {@code dot}. */
    public static Matrix ofPanels(String name, QuantPanels panels, DotMode dot) {
        return new Matrix(name, panels, dot);
    }

    public String name() { return name; }

    public DType dtype() { return dtype; }

    public int rows() { return rows; }

    public int cols() { return cols; }

    /** The arithmetic of the dot products with this matrix ({@code --dot}). */
    public DotMode dot() { return dot; }

    /** True for a BF16 matrix in {@link DotMode#REDUCED}: {@link ReducedMatMul} multiplies by it, over {@link #pairPanels}. */
    public boolean reducedBf16() { return ReducedMatMul.handles(dtype, dot); }

    /** True when this matrix keeps its row-major bytes ({@link #data}); false for one kept only as panels. */
    public boolean hasRowMajor() { return data != null; }

    /** The stored bytes, row-major; a matrix kept only as panels ({@link #ofPanels}) has none. */
    public MemorySegment data() {
        if (data == null) throw new IllegalStateException("matrix " + name + " is kept only as " + dtype + " panels (no row-major bytes)");
        return data;
    }

    /**
     * Bytes of every copy of the weights this matrix holds now: the row-major bytes (owned or mapped)
     * if kept, plus the panels built so far. For a matrix made by {@link #ofPanels} it is the panels'
     * bytes alone: the format's bytes per weight, over ceil(rows / NR)·NR rows.
     */
    public long weightBytes() {
        Panels f = panels.built();
        QuantPanels q = quantPanels.built();
        PairPanels b = pairPanels.built();
        QuantDotPanels r = quantDotPanels.built();
        return (data == null ? 0 : data.byteSize()) + (f == null ? 0 : f.data().byteSize()) + (q == null ? 0 : q.data().byteSize())
                + (b == null ? 0 : b.data().byteSize()) + (r == null ? 0 : r.data().byteSize());
    }

    /** This matrix repacked for {@link MatMul} ({@link Panels#pack}), built on the first call (thread-safe). */
    public Panels panels() {
        return panels.get(this, Panels::pack);
    }

    /** This BF16 matrix repacked for {@link ReducedMatMul} ({@link PairPanels#pack}), built on the first call (thread-safe). */
    public PairPanels pairPanels() {
        return pairPanels.get(this, PairPanels::pack);
    }

    /** This Q8_0/Q4_0 matrix repacked for {@link QuantDot} ({@link QuantDotPanels#pack}), built on the first call (thread-safe). */
    public QuantDotPanels quantDotPanels() {
        return quantDotPanels.get(this, QuantDotPanels::pack);
    }

    /** This Q8_0/Q4_0 matrix repacked for {@link QuantMatMul} ({@link QuantPanels#pack}), built on the first call (thread-safe). */
    public QuantPanels quantPanels() {
        return quantPanels.get(this, QuantPanels::pack);
    }

    /** Row r converted to float into {@code out[offset ..]} (embedding lookup). */
    public void row(int r, float[] out, int offset) {
        long base = (long) r * cols;
        for (int c = 0; c < cols; c++) out[offset + c] = get(base + c);
    }

    public float get(long i) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(Bf16.F32, i);
            case BF16 -> Bf16.toFloat(data.getAtIndex(Bf16.I16, i));
            case F16 -> Float.float16ToFloat(data.getAtIndex(Bf16.I16, i));
            case Q8_0, Q4_0 -> data != null ? Quantizer.get(dtype, data, i)
                    : quantPanels.built() != null ? quantPanels.built().get((int) (i / cols), (int) (i % cols))
                    : quantDotPanels.built().get((int) (i / cols), (int) (i % cols));
            default -> throw new IllegalStateException(name + ": " + dtype + " is not a weight dtype");
        };
    }

    public float get(int r, int c) { return get((long) r * cols + c); }

    @Override
    public String toString() {
        return "Matrix[" + name + ", " + dtype + " " + rows + " x " + cols + (dot == DotMode.EXACT ? "" : ", dot " + dot) + "]";
    }
}
