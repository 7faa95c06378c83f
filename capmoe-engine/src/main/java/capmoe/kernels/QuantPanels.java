package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.Quantizer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A Q8_0 / Q4_0 weight matrix W [N x K] repacked for {@link QuantMatMul}'s panel kernels: the
 * {@link Panels} layout (panels of {@link Panels#NR} = 2L output columns, one panel row per k, so a
 * kernel step reads the NR weights of one k contiguously and never sums across lanes) kept in the
 * block formats' bytes per weight, as llama.cpp's CPU "repack" interleaves N rows' blocks into one
 * (their N fp16 scales, then their quants: {@code block<K, N>}, {@code ggml/src/ggml-cpu/repack.h}
 * line 23; {@code make_block_q4_0x8}, {@code repack.cpp} line 2787; snapshot 3f545be): Q8_0 34 bytes
 * and Q4_0 18 bytes per 32 weights, as in the row-major {@link Quantizer} blocks.
 *
 * <p>Layout: panel p (of {@code ceil(N / NR)}; columns past N have scale 0 and weights 0) is K/32
 * blocks of {@link #blockBytes} bytes, block b covering k = 32b .. 32b+31 of the panel's NR columns:
 * <ul>
 *   <li>the NR fp16 scales d, as L little-endian ints of two halves, int lane i holding column i in
 *       its low half and column L+i in its high half (the BF16 {@link Panels} pairing, so
 *       {@link MatMul#f16ToF32} widens each half of the panel in one go);</li>
 *   <li>Q8_0: 32 rows of NR int8 q, row c = k step 32b+c, columns in order: w = d·q;</li>
 *   <li>Q4_0: 16 rows of NR bytes, row i holding k step 32b+2i in the low nibble and 32b+2i+1 in
 *       the high nibble (one load serves two consecutive k steps): w = d·(nibble − 8).</li>
 * </ul>
 * Every weight d·q is an exact fp32 number (≤ 8 + 11 significant bits), so decoding changes no
 * value. Built once per matrix ({@link Matrix#quantPanels}, at load for a checkpoint's matrices,
 * which then keep only this copy: {@link Matrix#ofPanels}), in {@link WeightMemory} (2 MB pages
 * where Linux lends them; freed with the matrix), over all cores.
 *
 * @param dtype Q8_0 or Q4_0
 * @param n     output columns (W's rows)
 * @param k     inner dimension (W's columns), a multiple of 32
 * @param data  the panels, panel p's block b at {@link #offset}(p, b)
 */
public record QuantPanels(DType dtype, int n, int k, MemorySegment data) {

    private static final int NR = Panels.NR;
    private static final int L = NR / 2;
    private static final int QK = Quantizer.BLOCK;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public QuantPanels {
        if (!dtype.quantized()) throw new IllegalArgumentException(dtype + " has no quantized panel layout");
        if (k % QK != 0) throw new IllegalArgumentException(dtype + " panels need a multiple of 32 columns, got " + k);
    }

    /** Bytes of one panel's block of 32 k steps: NR times the format's block (scales, then weights). */
    public long blockBytes() {
        return (long) NR * dtype.blockBytes();
    }

    /** Bytes of the NR scales at the start of each block. */
    public static long scaleBytes() {
        return 2L * NR;
    }

    /** Number of panels: ceil(n / NR). */
    public int panels() {
        return (n + NR - 1) / NR;
    }

    /** Where block b (k steps 32b .. 32b+31) of panel p starts in {@link #data}. */
    public long offset(int p, int b) {
        return ((long) p * (k / QK) + b) * blockBytes();
    }

    /** W repacked (see the class Javadoc) from its row-major blocks; parallel over panels on all cores. */
    public static QuantPanels pack(Matrix w) {
        DType format = w.dtype();
        if (!format.quantized()) throw new IllegalArgumentException("matrix " + w.name() + ": " + format + " is not Q8_0/Q4_0");
        int n = w.rows(), k = w.cols(), count = (n + NR - 1) / NR, blocks = k / QK, bs = format.blockBytes();
        QuantPanels out = new QuantPanels(format, n, k, WeightMemory.allocate((long) count * blocks * NR * bs));
        MemorySegment src = w.data(), dst = out.data();
        Parallel.defaults().forRange(count, 1, (p0, p1) -> {
            byte[] block = new byte[NR * bs];
            for (int p = p0; p < p1; p++) {
                for (int b = 0; b < blocks; b++) {
                    java.util.Arrays.fill(block, (byte) 0);
                    for (int i = 0; i < NR && p * NR + i < n; i++) {
                        long first = (long) (p * NR + i) * k + (long) b * QK;    // element index of the block's first weight
                        short d = src.get(I16, format.bytes(first));
                        int slot = i < L ? 2 * i : 2 * (i - L) + 1;   // low half of int lane i, or high half of lane i-L
                        block[2 * slot] = (byte) d;
                        block[2 * slot + 1] = (byte) (d >> 8);
                        int q0 = 2 * NR;
                        for (int c = 0; c < QK; c++) {
                            int q = Quantizer.quant(format, src, first + c);
                            if (format == DType.Q8_0) {
                                block[q0 + c * NR + i] = (byte) q;
                            } else {                                   // nibble q + 8 of k step c: row c/2, low or high half
                                int at = q0 + (c / 2) * NR + i;
                                block[at] = (byte) (block[at] | (q + 8) << (4 * (c & 1)));
                            }
                        }
                    }
                    MemorySegment.copy(block, 0, dst, ValueLayout.JAVA_BYTE, out.offset(p, b), block.length);
                }
            }
        });
        return out;
    }

    /** Weight W[j, c] as stored here, dequantized (d·q, exact in fp32): for the pack round-trip test. */
    public float get(int j, int c) {
        int p = j / NR, i = j % NR, b = c / QK, kc = c % QK;
        long o = offset(p, b);
        int slot = i < L ? 2 * i : 2 * (i - L) + 1;
        float d = Float.float16ToFloat(data.get(I16, o + 2L * slot));
        int q;
        if (dtype == DType.Q8_0) {
            q = data.get(ValueLayout.JAVA_BYTE, o + scaleBytes() + (long) kc * NR + i);
        } else {
            int v = data.get(ValueLayout.JAVA_BYTE, o + scaleBytes() + (long) (kc / 2) * NR + i) & 0xFF;
            q = ((kc & 1) == 0 ? v & 0x0F : v >>> 4) - 8;
        }
        return q * d;
    }
}
