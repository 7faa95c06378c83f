package capmoe.weights;

/** Element types of safetensors files that capmoe reads. Weights: F32, BF16, F16; references also hold I64/I32 ids. */
public enum DType {
    F32(4), BF16(2), F16(2), I64(8), I32(4);

    private final int size;

    DType(int size) { this.size = size; }

    /** Bytes per element. */
    public int size() { return size; }

    /** The safetensors name (e.g. "BF16"), or null when capmoe does not read that dtype. */
    static DType parse(String name) {
        for (DType d : values()) if (d.name().equals(name)) return d;
        return null;
    }
}
