package capmoe.weights;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HexFormat;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Q8_0 / Q4_0 exactly as llama.cpp writes them: the bytes equal gguf-py's quantizer (itself a
 * transliteration of ggml-quants.c's *_ref functions) on blocks with zeros, ties and a negative
 * maximum; the round trip error is at most half a step (a whole step for Q4_0's one clamped value).
 */
class QuantizerTest {
    /** Five blocks: random normal, zeros, a ramp, tiny values with a negative maximum, roundf ties at d = 1. */
    static final float[] X = {
            0.001230153371579945f, 0.2987455427646637f, -0.27413785457611084f, -0.8905918598175049f, -0.454670786857605f, -0.9916465282440186f, 0.0601436011493206f, 1.3402152061462402f,
            -0.49220651388168335f, -0.6204748749732971f, 0.4898420572280884f, 0.35688701272010803f, 0.1054142490029335f, -0.9304680228233337f, -0.02925182320177555f, 0.695303201675415f,
            -1.3442145586013794f, -0.45761576294898987f, -1.9012227058410645f, -1.289537787437439f, -1.8417350053787231f, -0.23509113490581512f, -1.267446517944336f, 0.27126434445381165f,
            0.15675108134746552f, -0.18693093955516815f, -2.5167596340179443f, -0.5386928915977478f, -0.048500943928956985f, 0.11330898851156235f, -1.5301357507705688f, -0.47775328159332275f,
            0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
            0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
            0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
            0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
            -4.0f, -3.75f, -3.5f, -3.25f, -3.0f, -2.75f, -2.5f, -2.25f,
            -2.0f, -1.75f, -1.5f, -1.25f, -1.0f, -0.75f, -0.5f, -0.25f,
            0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f,
            2.0f, 2.25f, 2.5f, 2.75f, 3.0f, 3.25f, 3.5f, 3.75f,
            -0.0009785190923139453f, -0.0008088372997008264f, 0.0010608987649902701f, -0.0008075347286649048f, -3.252170790801756e-05f, -0.009999999776482582f, -0.0005836004856973886f, -0.00011170195648446679f,
            0.00011046414874726906f, 6.378177931765094e-05f, -0.001225055893883109f, 7.614023343194276e-05f, 0.0013588235015049577f, -0.0015471447259187698f, 0.0008593827369622886f, 0.0001193540301756002f,
            -0.0006414704257622361f, 0.0020004166290163994f, 0.0007622597622685134f, -0.0011992888757959008f, 7.45162324164994e-05f, 0.0005766896065324545f, -0.00018878214177675545f, 0.0006829103222116828f,
            -6.65173283778131e-05f, 0.0006672475719824433f, 0.0014385225949808955f, -0.0006756623042747378f, 0.0002031386102316901f, -0.0004633076023310423f, 0.00012726843124255538f, -0.0011871946044266224f,
            127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f,
            -11.5f, -10.5f, -9.5f, -8.5f, -7.5f, -6.5f, -5.5f, -4.5f,
            -3.5f, -2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 3.5f,
            4.5f, 5.5f, 6.5f, 7.5f, 8.5f, 9.5f, 10.5f, 11.5f};

    /** {@code gguf.quants.quantize(X, Q8_0)} from llama.cpp's gguf-py (snapshot 3f545be), hex. */
    static final String Q8_0_GGUF_PY = "1325000ff2d3e9ce0344e7e1191205d1ff23bce9a0bfa3f4c00e08f781e5fe06b3e800000000000000000000000000000000000000000000000000000000000000000000082881899199a1a9b1b9c0c8d0d8e0e8f0f8000810182028303840474f575f676f772905f4f60df60081f9ff0101f00111ec0b02f8190af10107fe09ff0812f703fa02f1003c7f03fd01ff02fe7ff4f5f6f7f8f9fafbfcfdfeff0102030405060708090a0b0c";

    /** {@code gguf.quants.quantize(X, Q4_0)}, hex. */
    static final String Q4_0_GGUF_PY = "0935487927452775489c86760a698885386a0080888888888888888888888888888888880038809191a2a2b3b3c4c4d5d5e6e6f7f7f81f1577a79977888088988898977889878978f0cb80888888888888808989898978787878";

    private static byte[] quantize(DType format, float[] x) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(format.bytes(x.length));
            Quantizer.quantize(format, x, 0, x.length, out, 0);
            return out.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    @Test
    void q8_0BytesEqualLlamaCppsQuantizer() {
        assertArrayEquals(HexFormat.of().parseHex(Q8_0_GGUF_PY), quantize(DType.Q8_0, X));
    }

    @Test
    void q4_0BytesEqualLlamaCppsQuantizer() {
        assertArrayEquals(HexFormat.of().parseHex(Q4_0_GGUF_PY), quantize(DType.Q4_0, X));
    }

    @Test
    void roundTripIsWithinHalfAStep() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
            for (int trial = 0; trial < 50; trial++) {
                int n = 32 * (1 + rnd.nextInt(6));
                float[] x = new float[n];
                double scale = Math.pow(10, rnd.nextInt(-4, 3));
                for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
                if (trial % 7 == 0) java.util.Arrays.fill(x, 0, 32, 0f);   // an all-zero block
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment q = arena.allocate(format.bytes(n));
                    Quantizer.quantize(format, x, 0, n, q, 0);
                    for (int i = 0; i < n; i++) {
                        long block = (long) (i / 32) * format.blockBytes();
                        double d = Math.abs(Float.float16ToFloat(q.get(Quantizer.I16, block)));
                        double err = Math.abs(Quantizer.get(format, q, i) - (double) x[i]);
                        // half a step, plus the fp16 rounding of the scale over at most 127 (8) steps: 2^-11
                        // relative, or half of fp16's subnormal spacing 2^-24 for scales below 2^-14
                        double scaleErr = (format == DType.Q8_0 ? 127 : 8) * Math.max(d * 0x1p-11, 0x1p-25);
                        double bound = d / 2 + scaleErr + 1e-30;
                        if (format == DType.Q4_0 && err > bound) bound = d + scaleErr;   // the clamped value +8·|d| -> 7·|d|
                        assertTrue(err <= bound, format + " element " + i + ": |" + Quantizer.get(format, q, i) + " - " + x[i] + "| > " + bound);
                    }
                }
            }
        }
    }

    @Test
    void dequantizeFollowsTheLayout() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q8 = arena.allocate(34);
            q8.set(Quantizer.I16, 0, Float.floatToFloat16(0.5f));
            for (int j = 0; j < 32; j++) q8.set(ValueLayout.JAVA_BYTE, 2 + j, (byte) (j - 16));
            for (int j = 0; j < 32; j++) assertEquals((j - 16) * 0.5f, Quantizer.get(DType.Q8_0, q8, j));
            MemorySegment q4 = arena.allocate(18);
            q4.set(Quantizer.I16, 0, Float.floatToFloat16(-2f));
            for (int j = 0; j < 16; j++) q4.set(ValueLayout.JAVA_BYTE, 2 + j, (byte) (j | (15 - j) << 4));
            for (int j = 0; j < 16; j++) {
                assertEquals((j - 8) * -2f, Quantizer.get(DType.Q4_0, q4, j), "low nibble " + j);
                assertEquals((7 - j) * -2f, Quantizer.get(DType.Q4_0, q4, j + 16), "high nibble " + j);
            }
        }
    }

    @Test
    void blockFormatsRefuseRaggedLengthsAndUnknownNames() {
        assertThrows(IllegalArgumentException.class, () -> DType.Q8_0.bytes(33));
        assertEquals(34 * 3, DType.Q8_0.bytes(96));
        assertEquals(18 * 3, DType.Q4_0.bytes(96));
        assertEquals(DType.Q4_0, DType.quantizeOption("Q4_0"));
        String msg = assertThrows(IllegalArgumentException.class, () -> DType.quantizeOption("q5_k")).getMessage();
        assertEquals("--quantize must be q8_0 or q4_0, got 'q5_k'", msg);
    }
}
