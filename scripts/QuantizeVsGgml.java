import capmoe.kernels.QuantDot;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * capmoe's activation quantization (QuantDot.quantize, --dot reduced: quant_dot.c's
 * capmoe_qdot_quantize, on each of its paths the CPU has: AVX-512, AVX2, portable C) against llama.cpp's
 * compiled x86 quantize_row_q8_0 (libggml-cpu.so of the snapshot build), bit for bit: the int8 values
 * and the fp16 scale of every block, on random rows whose blocks are random, all zero, exact ties,
 * huge (fp16 scale overflowing), tiny (scale flushing to 0), subnormal (id infinite), negative
 * maxima near fp16's top, one subnormal alone, and values on a grid of 1/8. Run by scripts/qdot-vs-ggml:
 *   java --enable-native-access=ALL-UNNAMED -cp capmoe-engine/target/classes scripts/QuantizeVsGgml.java LIBGGML_CPU
 */
public class QuantizeVsGgml {
    public static void main(String[] args) throws Throwable {
        Linker linker = Linker.nativeLinker();
        SymbolLookup ggml = SymbolLookup.libraryLookup(Path.of(args[0]), Arena.global());
        ((MethodHandle) linker.downcallHandle(ggml.find("ggml_cpu_init").orElseThrow(), FunctionDescriptor.ofVoid())).invokeExact();
        MethodHandle quantize = linker.downcallHandle(ggml.find("quantize_row_q8_0").orElseThrow(),
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        long blocks = 0, different = 0;
        int paths = 0;
        for (int level = 2; level >= 0; level--) {
            if (QuantDot.isa(level) != level) continue;                  // a path this CPU lacks
            paths++;
            Random rnd = new Random(5);
            blocks = 0;
            try (Arena arena = Arena.ofConfined()) {
                for (int trial = 0; trial < 2000; trial++) {
                    int k = 32 * (1 + rnd.nextInt(64));
                    float[] x = rows(rnd, k);
                    MemorySegment in = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x), theirs = arena.allocate(k / 32 * 34L);
                    quantize.invokeExact(in, theirs, (long) k);
                    byte[] ours = new byte[QuantDot.rowBytes(k)];
                    QuantDot.quantize(x, 0, k, MemorySegment.ofArray(ours), 0, QuantDot.BLOCK_BYTES);
                    ByteBuffer bb = ByteBuffer.wrap(ours).order(ByteOrder.LITTLE_ENDIAN);
                    for (int b = 0; b < k / 32; b++, blocks++) {
                        float d = Float.float16ToFloat(theirs.get(ValueLayout.JAVA_SHORT_UNALIGNED, 34L * b));
                        boolean same = Float.floatToRawIntBits(d) == Float.floatToRawIntBits(bb.getFloat(b * QuantDot.BLOCK_BYTES + 68));
                        for (int i = 0; i < 32; i++) same &= theirs.get(ValueLayout.JAVA_BYTE, 34L * b + 2 + i) == ours[b * QuantDot.BLOCK_BYTES + i];
                        if (!same) different++;
                    }
                }
            }
        }
        QuantDot.isa(2);
        System.out.printf("activation blocks compared with ggml's quantize_row_q8_0: %d on each of %d paths, different: %d%n", blocks, paths, different);
        if (different > 0) System.exit(1);
    }

    /** k values in blocks of 32 of the kinds listed in the class comment, in turn. */
    static float[] rows(Random rnd, int k) {
        float[] x = new float[k];
        for (int i = 0; i < k; i++) x[i] = (float) rnd.nextGaussian();
        for (int b = 0; b < k / 32; b++) {
            int o = 32 * b;
            switch (b % 9) {
                case 0 -> { }
                case 1 -> Arrays.fill(x, o, o + 32, 0f);
                case 2 -> { for (int i = 0; i < 32; i++) x[o + i] = (i % 2 == 0 ? 1 : -1) * (i + 0.5f); x[o + 31] = -127f; }
                case 3 -> { for (int i = 0; i < 32; i++) x[o + i] *= 3e38f / 4; }
                case 4 -> { for (int i = 0; i < 32; i++) x[o + i] *= 1e-9f; }
                case 5 -> { for (int i = 0; i < 32; i++) x[o + i] = (i - 16) * 1e-39f; }
                case 6 -> { for (int i = 0; i < 32; i++) x[o + i] = -Math.abs(x[o + i]) * 6e4f; }
                case 7 -> { Arrays.fill(x, o, o + 32, 0f); x[o + 5] = 1e-44f; }
                default -> { for (int i = 0; i < 32; i++) x[o + i] = Math.round(x[o + i] * 8) / 8f; }
            }
        }
        return x;
    }
}
