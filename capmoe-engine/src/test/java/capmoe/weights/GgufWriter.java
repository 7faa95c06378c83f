package capmoe.weights;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small GGUF v3 writer for tests, following gguf-py's {@code gguf_writer.py} (header, metadata,
 * tensor infos, data aligned to 32). Metadata values: {@link U32}, {@link F32}, String, Boolean,
 * {@link I32s}, {@code List<String>}.
 */
public final class GgufWriter {
    public record U32(long v) { }
    public record F32(float v) { }
    public record I32s(int[] v) { }

    private record Entry(String name, int type, long[] shape, byte[] data) { }

    private final Map<String, Object> kv = new LinkedHashMap<>();
    private final List<Entry> tensors = new ArrayList<>();

    public GgufWriter kv(String key, Object value) {
        kv.put(key, value);
        return this;
    }

    /** A tensor of HF shape {@code shape} (slowest first) in ggml type {@code ggmlType}, raw bytes. */
    public GgufWriter tensor(String name, int ggmlType, long[] shape, byte[] data) {
        tensors.add(new Entry(name, ggmlType, shape, data));
        return this;
    }

    public byte[] bytes() {
        Buf b = new Buf();
        b.u32(0x46554747).u32(3).u64(tensors.size()).u64(kv.size());
        for (var e : kv.entrySet()) {
            b.str(e.getKey());
            value(b, e.getValue());
        }
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (Entry t : tensors) {
            b.str(t.name()).u32(t.shape().length);
            for (int d = t.shape().length - 1; d >= 0; d--) b.u64(t.shape()[d]);
            b.u32(t.type()).u64(offset);
            offsets.add(offset);
            offset = align(offset + t.data().length);
        }
        b.pad();
        for (Entry t : tensors) {
            b.out.writeBytes(t.data());
            b.pad();
        }
        return b.out.toByteArray();
    }

    public void write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, bytes());
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static long align(long n) { return (n + 31) / 32 * 32; }

    private static void value(Buf b, Object v) {
        switch (v) {
            case U32 u -> b.u32(4).u32((int) u.v());
            case F32 f -> b.u32(6).u32(Float.floatToRawIntBits(f.v()));
            case Boolean z -> { b.u32(7); b.out.write(z ? 1 : 0); }
            case String s -> b.u32(8).str(s);
            case I32s a -> {
                b.u32(9).u32(5).u64(a.v().length);
                for (int x : a.v()) b.u32(x);
            }
            case List<?> l -> {
                b.u32(9).u32(8).u64(l.size());
                for (Object s : l) b.str((String) s);
            }
            default -> throw new IllegalArgumentException("no GGUF type for " + v);
        }
    }

    private static final class Buf {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        Buf u32(int v) { out.write(scratch.clear().putInt(v).array(), 0, 4); return this; }

        Buf u64(long v) { out.write(scratch.clear().putLong(v).array(), 0, 8); return this; }

        Buf str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            out.writeBytes(b);
            return this;
        }

        void pad() { while (out.size() % 32 != 0) out.write(0); }
    }
}
