package capmoe.runtime.dist;

import capmoe.kernels.Bf16;

import java.util.Locale;

/**
 * How hidden rows travel in the dispatch and combine all-to-alls of {@link DistributedMoe}.
 * <ul>
 *   <li>{@link #FP32} (default): 4 bytes per value, the rows as computed: the ranks' logits equal
 *       one process's bit for bit.</li>
 *   <li>{@link #BF16}: 2 bytes per value, half the bytes. Two roundings to bfloat16 (nearest even,
 *       as torch's {@code .to(torch.bfloat16)}, {@link Bf16#fromFloat}): every dispatched row
 *       element before the experts (rows a rank keeps for its own experts too, so a result does
 *       not depend on which rank owns the expert), and every expert output element before the
 *       combine adds {@code w*y}. The result equals one process that rounds at those two points
 *       bit for bit (tested); against fp32 it differs by bf16's 8-bit mantissa (relative error
 *       up to 2^-9 per value).</li>
 * </ul>
 */
public enum Wire {
    FP32, BF16;

    /** The flag value: {@code fp32} or {@code bf16}. */
    public String label() { return name().toLowerCase(Locale.ROOT); }

    /** Bytes per hidden value on the wire. */
    public int bytes() { return this == FP32 ? Float.BYTES : Short.BYTES; }

    /** Parses {@code fp32} / {@code bf16}; anything else is an error naming the flag. */
    public static Wire parse(String s) {
        for (Wire w : values()) if (w.label().equals(s)) return w;
        throw new IllegalArgumentException("--wire: '" + s + "' is not one of fp32, bf16");
    }

    /** The first n values of {@code f} as bf16 bits. */
    static short[] toBf16(float[] f, int n) {
        short[] s = new short[n];
        for (int i = 0; i < n; i++) s[i] = Bf16.fromFloat(f[i]);
        return s;
    }

    /** bf16 bits back to floats (exact), into {@code f}. */
    static void fromBf16(short[] s, int n, float[] f) {
        for (int i = 0; i < n; i++) f[i] = Bf16.toFloat(s[i]);
    }
}
