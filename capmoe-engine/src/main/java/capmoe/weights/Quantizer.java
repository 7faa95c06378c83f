package capmoe.weights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's Q8_0 and Q4_0 block formats, bit for bit as llama.cpp writes them, so that a tensor
 * quantized here equals the same tensor quantized by {@code llama-quantize} or gguf-py.
 *
 * <p>Layouts, from llama.cpp {@code ggml/src/ggml-common.h} (snapshot 3f545be):
 * <ul>
 *   <li>{@code block_q8_0} (lines 251–256): {@code ggml_half d; int8_t qs[32];} — 34 bytes, w[j] = d·qs[j].
 *   <li>{@code block_q4_0} (lines 194–199): {@code ggml_half d; uint8_t qs[16];} — 18 bytes; byte j holds
 *       w[j] in its low nibble and w[j+16] in its high nibble, w = d·(nibble − 8).
 * </ul>
 * Quantization follows {@code ggml/src/ggml-quants.c}: {@code quantize_row_q8_0_ref} (line 276:
 * d = amax/127, q = roundf(x/d)) and {@code quantize_row_q4_0_ref} (line 113: d = max/−8 where max is
 * the value of largest magnitude, q = min(15, (int8)(x/d + 8.5))); dequantization follows
 * {@code dequantize_row_q8_0} (line 553) and {@code dequantize_row_q4_0} (line 459). The fp16 scale is
 * rounded to nearest even ({@code GGML_FP32_TO_FP16}, as F16C's {@code _cvtss_sh} and numpy do).
 */
public final class Quantizer {
    private Quantizer() { }

    /** Weights per block of both formats ({@code QK8_0 = QK4_0 = 32}). */
    public static final int BLOCK = 32;

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Quantizes {@code x[from .. from+n)} (n a multiple of 32) into {@code out} at byte {@code at},
     * in {@code format} (Q8_0 or Q4_0).
     */
    public static void quantize(DType format, float[] x, int from, int n, MemorySegment out, long at) {
        if (n % BLOCK != 0) throw new IllegalArgumentException(format + " quantizes whole blocks of 32 values, not " + n);
        for (int b = 0; b < n / BLOCK; b++) {
            long o = at + (long) b * format.blockBytes();
            int base = from + b * BLOCK;
            switch (format) {
                case Q8_0 -> q8_0Block(x, base, out, o);
                case Q4_0 -> q4_0Block(x, base, out, o);
                default -> throw new IllegalArgumentException(format + " is not a quantized format");
            }
        }
    }

    /** ggml-quants.c:276 quantize_row_q8_0_ref, one block. */
    private static void q8_0Block(float[] x, int base, MemorySegment out, long o) {
        float amax = 0f;
        for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[base + j]));
        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        out.set(I16, o, Float.floatToFloat16(d));
        for (int j = 0; j < BLOCK; j++) out.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) roundf(x[base + j] * id));
    }

    /** ggml-quants.c:113 quantize_row_q4_0_ref, one block. */
    private static void q4_0Block(float[] x, int base, MemorySegment out, long o) {
        float amax = 0f, max = 0f;
        for (int j = 0; j < BLOCK; j++) {
            float v = x[base + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        out.set(I16, o, Float.floatToFloat16(d));
        for (int j = 0; j < BLOCK / 2; j++) {
            int lo = Math.min(15, (byte) (int) (x[base + j] * id + 8.5f));
            int hi = Math.min(15, (byte) (int) (x[base + BLOCK / 2 + j] * id + 8.5f));
            out.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) (lo | hi << 4));
        }
    }

    /** C's roundf: halfway cases away from zero (exact: done in double). */
    static int roundf(float v) {
        return (int) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v);
    }

    /** Element i of a Q8_0/Q4_0 tensor stored at {@code data}, dequantized as ggml does: d·{@link #quant}. */
    public static float get(DType format, MemorySegment data, long i) {
        return quant(format, data, i) * Float.float16ToFloat(data.get(I16, i / BLOCK * format.blockBytes()));
    }

    /** The integer weight of element i of a Q8_0/Q4_0 tensor: q (Q8_0) or nibble − 8 (Q4_0), so that w = d·quant. */
    public static int quant(DType format, MemorySegment data, long i) {
        long o = i / BLOCK * format.blockBytes();
        int j = (int) (i % BLOCK);
        return switch (format) {
            case Q8_0 -> data.get(ValueLayout.JAVA_BYTE, o + 2 + j);
            case Q4_0 -> {
                int q = data.get(ValueLayout.JAVA_BYTE, o + 2 + (j % 16)) & 0xFF;
                yield (j < 16 ? q & 0x0F : q >>> 4) - 8;
            }
            default -> throw new IllegalArgumentException(format + " is not a quantized format");
        };
    }
}
