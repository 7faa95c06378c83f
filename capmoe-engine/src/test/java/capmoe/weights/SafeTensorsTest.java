package capmoe.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reader maps files in place and rejects every malformed header with the file and tensor named. */
class SafeTensorsTest {
    @TempDir
    Path tmp;

    private Path write(String name, List<SafeTensorsWriter.Entry> entries) {
        Path p = tmp.resolve(name);
        SafeTensorsWriter.write(p, Map.of("format", "pt"), entries);
        return p;
    }

    /** A file made of a raw header string and {@code dataBytes} zero bytes. */
    private Path raw(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = tmp.resolve("raw.safetensors");
        Files.write(p, b.array());
        return p;
    }

    private String error(Path p) {
        try (Arena arena = Arena.ofShared()) {
            return assertThrows(IllegalArgumentException.class, () -> SafeTensorsFile.open(p, arena)).getMessage();
        }
    }

    @Test
    void roundTripsF32Bf16F16AndMetadata() {
        float[] v = {1.5f, -2.25f, 3.0f, 0.1f, 7f, -0.5f};
        Path p = write("a.safetensors", List.of(
                SafeTensorsWriter.Entry.of("f32", DType.F32, v, 2, 3),
                SafeTensorsWriter.Entry.of("bf16", DType.BF16, v, 3, 2),
                SafeTensorsWriter.Entry.of("f16", DType.F16, v, 6)));
        try (Arena arena = Arena.ofShared()) {
            SafeTensorsFile f = SafeTensorsFile.open(p, arena);
            assertEquals("pt", f.metadata().get("format"));
            assertArrayEquals(v, f.tensors().get("f32").toFloatArray());
            assertArrayEquals(new long[] {3, 2}, f.tensors().get("bf16").shape());
            float[] bf = f.tensors().get("bf16").toFloatArray();
            for (int i = 0; i < v.length; i++) assertEquals(v[i], bf[i], Math.abs(v[i]) / 128, "bf16 keeps 8 bits of mantissa");
            float[] h = f.tensors().get("f16").toFloatArray();
            for (int i = 0; i < v.length; i++) assertEquals(v[i], h[i], Math.abs(v[i]) / 1024);
            assertTrue(f.tensors().get("f32").data().isMapped(), "tensors are views of the mapping, not copies");
        }
    }

    @Test
    void truncatedFileIsRejectedNamingTheTensor() throws IOException {
        Path p = write("t.safetensors", List.of(SafeTensorsWriter.Entry.constant("w", DType.BF16, 1f, 64, 64)));
        byte[] all = Files.readAllBytes(p);
        Files.write(p, java.util.Arrays.copyOf(all, all.length - 100));
        String msg = error(p);
        assertTrue(msg.contains("tensor w") && msg.contains("truncated") && msg.contains(p.toString()), msg);
    }

    @Test
    void shortOrGarbageFilesAreRejected() throws IOException {
        Path p = tmp.resolve("short.safetensors");
        Files.write(p, new byte[] {1, 2, 3});
        assertTrue(error(p).contains("shorter than the 8-byte header"), error(p));
        Files.write(p, new byte[] {(byte) 0xff, (byte) 0xff, 0, 0, 0, 0, 0, 0, 1, 2});
        assertTrue(error(p).contains("header length"), error(p));
        assertTrue(error(raw("{not json", 0)).contains("not valid JSON"));
    }

    @Test
    void dtypeAndShapeMustAgreeWithTheByteLength() throws IOException {
        String msg = error(raw("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24));
        assertTrue(msg.contains("tensor w") && msg.contains("needs 12 bytes") && msg.contains("give 24"), msg);
    }

    @Test
    void overlappingTensorsAreRejected() throws IOException {
        String msg = error(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24));
        assertTrue(msg.contains("overlap") && msg.contains("a") && msg.contains("b"), msg);
    }

    @Test
    void unsupportedDtypeAndMissingFieldsAreNamed() throws IOException {
        String msg = error(raw("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4));
        assertTrue(msg.contains("unsupported dtype F8_E4M3") && msg.contains("tensor w"), msg);
        msg = error(raw("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4));
        assertTrue(msg.contains("missing \"shape\""), msg);
        msg = error(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8));
        assertTrue(msg.contains("outside the data section"), msg);
    }

    @Test
    void checkpointReadsShardsWithAndWithoutIndex() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("ckpt"));
        SafeTensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), null,
                List.of(SafeTensorsWriter.Entry.constant("a", DType.F32, 1f, 2)));
        SafeTensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), null,
                List.of(SafeTensorsWriter.Entry.constant("b", DType.F32, 2f, 3)));
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertEquals(2, c.tensors().size());
            assertArrayEquals(new float[] {2, 2, 2}, c.tensor("b").toFloatArray());
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertArrayEquals(new float[] {1, 1}, c.tensor("a").toFloatArray());
            String msg = assertThrows(IllegalArgumentException.class, () -> c.tensor("c")).getMessage();
            assertTrue(msg.contains("tensor c is missing"), msg);
            msg = assertThrows(IllegalArgumentException.class, () -> c.matrix("b", 1, 3, "test")).getMessage();
            assertTrue(msg.contains("has shape [3]") && msg.contains("[1, 3]"), msg);
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00001-of-00002.safetensors\"}}");
        String msg = assertThrows(IllegalArgumentException.class, () -> Checkpoint.open(dir)).getMessage();
        assertTrue(msg.contains("tensor b") && msg.contains("does not contain it"), msg);
    }

    @Test
    void filesLargerThan2GbAreAddressedWithLongOffsets() throws IOException {
        // a sparse file: 2.5 GB of zeros after one small tensor, then a tensor beyond the 2^31 boundary
        long big = (5L << 29);
        String header = "{\"small\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"pad\":{\"dtype\":\"BF16\",\"shape\":[" + (big - 4) / 2 + "],\"data_offsets\":[4," + big + "]},"
                + "\"far\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + big + "," + (big + 8) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path p = tmp.resolve("big.safetensors");
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE,
                java.nio.file.StandardOpenOption.SPARSE)) {
            ByteBuffer b = ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).flip();
            ch.write(b);
            ByteBuffer far = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(3.5f).putFloat(-1f).flip();
            ch.write(far, 8 + h.length + big);
        }
        try (Arena arena = Arena.ofShared()) {
            SafeTensorsFile f = SafeTensorsFile.open(p, arena);
            assertArrayEquals(new float[] {3.5f, -1f}, f.tensors().get("far").toFloatArray());
        } finally {
            Files.delete(p);
        }
    }
}
