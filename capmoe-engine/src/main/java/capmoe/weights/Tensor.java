package capmoe.weights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor of a safetensors or GGUF file: a view of the memory-mapped bytes (never a copy).
 * {@code file} is kept so that every error can say where the tensor came from.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data, Path file) {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public long elements() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public String shapeString() { return Arrays.toString(shape); }

    /** Throws a clear error unless the shape is exactly {@code expected}; {@code why} names the config keys. */
    public Tensor expectShape(String why, long... expected) {
        if (!Arrays.equals(shape, expected)) {
            throw new IllegalArgumentException("tensor " + name + " in " + file + " has shape " + shapeString()
                    + " but " + Arrays.toString(expected) + " was expected (" + why + ")");
        }
        return this;
    }

    /** Element i as float (F32, BF16, F16, Q8_0/Q4_0 dequantized, I32, I64). */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, i);
            case BF16 -> Float.intBitsToFloat((data.getAtIndex(I16, i) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, i));
            case I32 -> data.getAtIndex(I32, i);
            case I64 -> data.getAtIndex(I64, i);
            case Q8_0, Q4_0 -> Quantizer.get(dtype, data, i);
        };
    }

    /** Element i as long (integer dtypes only). */
    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> data.getAtIndex(I64, i);
            case I32 -> data.getAtIndex(I32, i);
            default -> throw new IllegalArgumentException("tensor " + name + " in " + file + " is " + dtype + ", not an integer tensor");
        };
    }

    /**
     * A float copy. Only for small tensors (norm weights, biases, reference activations): the big
     * matrices are read in place by the kernels.
     */
    public float[] toFloatArray() {
        long n = elements();
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("tensor " + name + " is too large to copy");
        float[] out = new float[(int) n];
        for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        return out;
    }

    public long[] toLongArray() {
        long[] out = new long[Math.toIntExact(elements())];
        for (int i = 0; i < out.length; i++) out[i] = getLong(i);
        return out;
    }
}
