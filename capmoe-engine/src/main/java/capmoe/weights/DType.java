package capmoe.weights;

import java.util.Locale;

/**
 * Element types capmoe reads. Weights: F32, BF16, F16 (safetensors and GGUF) and ggml's block
 * formats Q8_0 and Q4_0 (GGUF, or {@code --quantize} at load); references also hold I64/I32 ids.
 *
 * <p>A block format stores {@link #blockSize()} consecutive weights of a row in
 * {@link #blockBytes()} bytes; see {@link Quantizer} for the layouts.
 */
public enum DType {
    F32(4, 1), BF16(2, 1), F16(2, 1), I64(8, 1), I32(4, 1),
    /** ggml {@code block_q8_0}: fp16 scale d, then 32 int8 q; w = d·q. */
    Q8_0(34, 32),
    /** ggml {@code block_q4_0}: fp16 scale d, then 16 bytes of nibbles; w = d·(q − 8). */
    Q4_0(18, 32);

    private final int blockBytes;
    private final int blockSize;

    DType(int blockBytes, int blockSize) {
        this.blockBytes = blockBytes;
        this.blockSize = blockSize;
    }

    /** Bytes per element; only for the plain (non-block) types. */
    public int size() {
        if (blockSize != 1) throw new IllegalStateException(this + " is a block format: use bytes(n)");
        return blockBytes;
    }

    /** Weights per block (1 for plain types). */
    public int blockSize() { return blockSize; }

    /** Bytes per block (the element size for plain types). */
    public int blockBytes() { return blockBytes; }

    /** True for Q8_0 and Q4_0. */
    public boolean quantized() { return blockSize > 1; }

    /** Bytes of {@code n} elements; n must be a whole number of blocks. */
    public long bytes(long n) {
        if (n % blockSize != 0) throw new IllegalArgumentException(this + " stores whole blocks of " + blockSize + " values, not " + n);
        return Math.multiplyExact(n / blockSize, (long) blockBytes);
    }

    /** The safetensors name (e.g. "BF16"), or null when capmoe does not read that dtype from safetensors. */
    static DType parse(String name) {
        for (DType d : values()) if (!d.quantized() && d.name().equals(name)) return d;
        return null;
    }

    /** {@code --quantize q8_0|q4_0} (case-insensitive) to its format; a clear error otherwise. */
    public static DType quantizeOption(String name) {
        String n = name.toUpperCase(Locale.ROOT);
        if (n.equals("Q8_0")) return Q8_0;
        if (n.equals("Q4_0")) return Q4_0;
        throw new IllegalArgumentException("--quantize must be q8_0 or q4_0, got '" + name + "'");
    }
}
