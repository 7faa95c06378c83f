package capmoe.weights;

import capmoe.files.AtomicFile;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a {@code .safetensors} file, streaming each tensor's bytes so that multi-GB files
 * (the bench model) never sit in memory. Used by the bench and by tests that build checkpoints.
 */
public final class SafeTensorsWriter {
    private SafeTensorsWriter() { }

    /** Produces a tensor's elements in order, chunk by chunk, as little-endian bytes. */
    @FunctionalInterface
    public interface Content {
        /** Fills {@code out} (little-endian, remaining bytes a multiple of the dtype size) with elements starting at {@code first}. */
        void fill(ByteBuffer out, long first);
    }

    public record Entry(String name, DType dtype, long[] shape, Content content) {
        public long bytes() {
            long n = dtype.size();
            for (long d : shape) n *= d;
            return n;
        }

        /** Values stored as {@code dtype} (F32 or BF16 with round-to-nearest-even, or F16). */
        public static Entry of(String name, DType dtype, float[] values, long... shape) {
            return new Entry(name, dtype, shape, (out, first) -> {
                for (long i = first; out.hasRemaining(); i++) put(out, dtype, values[(int) i]);
            });
        }

        /** Uniform random values in [-scale, scale), deterministic in {@code seed}. */
        public static Entry random(String name, DType dtype, long seed, float scale, long... shape) {
            return new Entry(name, dtype, shape, (out, first) -> {
                SplittableRandom r = new SplittableRandom(seed ^ (first * 0x9E3779B97F4A7C15L));
                while (out.hasRemaining()) put(out, dtype, (float) ((r.nextDouble() * 2 - 1) * scale));
            });
        }

        /** A constant (e.g. norm weights of 1). */
        public static Entry constant(String name, DType dtype, float value, long... shape) {
            return new Entry(name, dtype, shape, (out, first) -> {
                while (out.hasRemaining()) put(out, dtype, value);
            });
        }
    }

    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) 0x7FC0;
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    private static void put(ByteBuffer out, DType dtype, float v) {
        switch (dtype) {
            case F32 -> out.putFloat(v);
            case BF16 -> out.putShort(toBf16(v));
            case F16 -> out.putShort(Float.floatToFloat16(v));
            case I32 -> out.putInt((int) v);
            case I64 -> out.putLong((long) v);
        }
    }

    /** Bytes written so far of the file's total (header included), reported after every chunk of at most 4 MiB. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (written, total) -> { };

        void written(long written, long total);
    }

    public static void write(Path path, Map<String, String> metadata, List<Entry> entries) {
        write(path, metadata, entries, Progress.NONE);
    }

    /**
     * Writes the file beside {@code path} and renames it over it when complete ({@link AtomicFile}):
     * an interrupted write never leaves a truncated checkpoint that a later run would load.
     */
    public static void write(Path path, Map<String, String> metadata, List<Entry> entries, Progress progress) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name());
            t.put("dtype", e.dtype().name());
            var shape = t.putArray("shape");
            for (long d : e.shape()) shape.add(d);
            var off = t.putArray("data_offsets");
            off.add(offset);
            off.add(offset + e.bytes());
            offset += e.bytes();
        }
        byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;   // the format pads the header to 8 bytes with spaces
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(h);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        long fileBytes = head.remaining() + offset, written = head.remaining();
        AtomicFile file = AtomicFile.create(path);
        try (FileChannel ch = FileChannel.open(file.temp(), StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            while (head.hasRemaining()) ch.write(head);
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry e : entries) {
                long total = e.bytes(), done = 0;
                while (done < total) {
                    int chunk = (int) Math.min(buf.capacity(), total - done);
                    buf.clear().limit(chunk);
                    e.content().fill(buf, done / e.dtype().size());
                    buf.flip();
                    while (buf.hasRemaining()) ch.write(buf);
                    done += chunk;
                    written += chunk;
                    progress.written(written, fileBytes);
                }
            }
        } catch (IOException ex) {
            file.abort();
            throw new IllegalArgumentException("cannot write " + path + ": " + ex.getMessage(), ex);
        } catch (RuntimeException ex) {
            file.abort();
            throw ex;
        }
        file.commit();
    }
}
