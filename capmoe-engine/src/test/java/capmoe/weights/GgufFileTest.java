package capmoe.weights;

import capmoe.weights.GgufWriter.F32;
import capmoe.weights.GgufWriter.U32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GGUF reader on a small valid file, on every truncation of it, and on corrupt fields: one clear error each. */
class GgufFileTest {
    @TempDir
    Path tmp;

    private static final float[] A = new float[64];
    private static final float[] B = new float[32];

    static {
        for (int i = 0; i < A.length; i++) A[i] = i * 0.25f - 3;
        for (int i = 0; i < B.length; i++) B[i] = (float) Math.sin(i);
    }

    /** Two tensors: "a" F32 [2 x 32], "b" Q8_0 [1 x 32]; a few metadata types. */
    static byte[] valid() {
        ByteBuffer a = ByteBuffer.allocate(A.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : A) a.putFloat(f);
        byte[] q;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(34);
            Quantizer.quantize(DType.Q8_0, B, 0, 32, seg, 0);
            q = seg.toArray(ValueLayout.JAVA_BYTE);
        }
        return new GgufWriter().kv("general.architecture", "olmoe").kv("x.count", new U32(7)).kv("x.eps", new F32(1e-6f))
                .kv("x.flag", true).kv("x.list", List.of("a", "bc"))
                .tensor("a", 0, new long[] {2, 32}, a.array()).tensor("b", 8, new long[] {1, 32}, q).bytes();
    }

    private String error(byte[] bytes) throws IOException {
        Path f = tmp.resolve("m.gguf");
        Files.write(f, bytes);
        try (Arena arena = Arena.ofConfined()) {
            String msg = assertThrows(IllegalArgumentException.class, () -> GgufFile.open(f, arena)).getMessage();
            assertTrue(msg.startsWith(f.toString() + ": "), "the error names the file: " + msg);
            assertEquals(1, msg.lines().count(), msg);
            return msg;
        }
    }

    private static int find(byte[] hay, String s) {
        byte[] n = s.getBytes(StandardCharsets.UTF_8);
        outer:
        for (int i = 0; i + n.length <= hay.length; i++) {
            for (int j = 0; j < n.length; j++) if (hay[i + j] != n[j]) continue outer;
            return i;
        }
        throw new AssertionError(s + " not found");
    }

    private static byte[] withU32(byte[] b, int at, int v) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(at, v);
        return c;
    }

    private static byte[] withU64(byte[] b, int at, long v) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v);
        return c;
    }

    @Test
    void readsMetadataShapesAndData() throws IOException {
        Path f = tmp.resolve("ok.gguf");
        Files.write(f, valid());
        try (Arena arena = Arena.ofConfined()) {
            GgufFile g = GgufFile.open(f, arena);
            assertTrue(GgufFile.isGguf(f));
            assertEquals(3, g.version());
            assertEquals("olmoe", g.string("general.architecture"));
            assertEquals(7, g.integer("x.count"));
            assertEquals(1e-6f, (float) g.number("x.eps"));
            assertTrue(g.bool("x.flag", false));
            assertEquals(List.of("a", "bc"), g.array("x.list"));
            Tensor a = g.tensors().get("a"), b = g.tensors().get("b");
            assertArrayEquals(new long[] {2, 32}, a.shape());
            assertArrayEquals(A, a.toFloatArray());
            assertEquals(DType.Q8_0, b.dtype());
            for (int i = 0; i < 32; i++) assertEquals(B[i], b.getFloat(i), 1.0 / 254 + 1e-4, "half a Q8_0 step of amax ~1");
            assertEquals(f + ": missing metadata key nope", assertThrows(IllegalArgumentException.class, () -> g.integer("nope")).getMessage());
            assertTrue(assertThrows(IllegalArgumentException.class, () -> g.integer("general.architecture")).getMessage()
                    .contains("must be an integer"));
        }
    }

    @Test
    void everyTruncationIsAClearError() throws IOException {
        byte[] ok = valid();
        int end = ok.length - (32 - 34 % 32);   // the file ends with padding after tensor b's 34 bytes; cutting only padding loses nothing
        for (int n = 0; n < end; n++) {
            String msg = error(Arrays.copyOf(ok, n));
            assertTrue(msg.contains("truncated"), "cut at " + n + " of " + ok.length + ": " + msg);
        }
    }

    @Test
    void corruptFieldsAreClearErrors() throws IOException {
        byte[] ok = valid();
        assertTrue(error(withU32(ok, 0, 0x12345678)).contains("not a GGUF file"));
        assertTrue(error(withU32(ok, 4, 1)).contains("GGUF version 1 is not supported"));
        assertTrue(error(withU64(ok, 8, 1L << 40)).contains("declares 1099511627776 tensors"));
        int aName = find(ok, "\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000a\u0002\u0000\u0000\u0000\u0020") + 8;   // tensor "a": u64 length 1, 'a', n_dims 2, ne0 32
        int aType = aName + 1 + 4 + 16, aOffset = aType + 4;
        assertTrue(error(withU32(ok, aType, 14)).contains("tensor a is Q6_K; capmoe reads F32, F16, BF16, Q8_0 and Q4_0"));
        assertTrue(error(withU32(ok, aType, 99)).contains("tensor a is type 99"));
        assertTrue(error(withU64(ok, aOffset, 8)).contains("not a multiple of the alignment 32"));
        assertTrue(error(withU64(ok, aOffset, 1 << 20)).contains("truncated: tensor a"));
        assertTrue(error(withU32(ok, aName + 1, 7)).contains("has 7 dimensions"));
        assertTrue(error(withU64(ok, aName + 5, 0)).contains("dimension ne[0] = 0"));
        assertTrue(error(withU64(ok, aName + 5 + 8, 3)).contains("truncated: tensor a (F32 [3, 32], 384 bytes at data offset 0)"));   // a becomes [3 x 32]
        int bName = find(ok, "\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000b\u0002\u0000\u0000\u0000\u0020") + 8;
        assertTrue(error(withU64(ok, bName + 5, 48)).contains("rows of 48 values are not whole blocks of 32"));
        assertTrue(error(withU64(ok, bName + 1 + 4 + 16 + 4, 0)).contains("tensors a and b overlap"));
        int flag = find(ok, "x.flag") + 6;   // then the u32 type 7 and the bool byte
        byte[] badBool = ok.clone();
        badBool[flag + 4] = 2;
        assertTrue(error(badBool).contains("has a bool of value 2"));
        assertTrue(error(withU32(ok, flag, 13)).contains("unknown value type 13"));
        byte[] notUtf8 = ok.clone();
        notUtf8[find(ok, "olmoe")] = (byte) 0xC3;
        notUtf8[find(ok, "olmoe") + 1] = (byte) 0x28;
        assertTrue(error(notUtf8).contains("not UTF-8"));
    }
}
