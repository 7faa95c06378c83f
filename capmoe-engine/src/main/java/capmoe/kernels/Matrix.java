package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.Quantizer;

import java.lang.foreign.MemorySegment;

/**
 * A weight matrix [rows x cols], row-major, read in place from the (memory-mapped) checkpoint in
 * its stored dtype. HF Linear layout: rows = out_features, cols = in_features. In the block formats
 * (Q8_0, Q4_0) every row is cols/32 whole blocks ({@link Quantizer}).
 */
public record Matrix(String name, DType dtype, int rows, int cols, MemorySegment data) {
    public Matrix {
        if (dtype.quantized() && cols % dtype.blockSize() != 0) {
            throw new IllegalArgumentException("matrix " + name + ": " + dtype + " needs a multiple of "
                    + dtype.blockSize() + " columns, got [" + rows + " x " + cols + "]");
        }
        if (data.byteSize() != dtype.bytes((long) rows * cols)) {
            throw new IllegalArgumentException("matrix " + name + ": " + data.byteSize() + " bytes for "
                    + dtype + " [" + rows + " x " + cols + "]");
        }
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
            case Q8_0, Q4_0 -> Quantizer.get(dtype, data, i);
            default -> throw new IllegalStateException(name + ": " + dtype + " is not a weight dtype");
        };
    }

    public float get(int r, int c) { return get((long) r * cols + c); }
}
