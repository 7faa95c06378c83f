package capmoe.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Every position's logits of one sequence as raw float32 [tokens x vocab], little-endian — the
 * layout {@code scripts/llamacpp-logits.cpp} writes for llama.cpp, so the two can be compared
 * ({@code scripts/logits-vs-llamacpp}).
 */
public final class LogitsFile {
    private LogitsFile() { }

    /** What was written: positions and vocabulary (the file holds positions·vocab floats). */
    public record Written(Path file, int positions, int vocab) { }

    /**
     * 1. runs the sequence through {@code model} in one forward pass (no policy);
     * 2. writes the [positions x vocab] logits to a temporary file beside {@code out}, then renames it.
     */
    public static Written write(CausalLM model, int[] ids, Path out) {
        float[] logits = model.forward(new int[][] {ids}, RunOptions.defaults())[0];
        int vocab = model.config().vocabSize();
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(logits.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(logits);
            while (b.hasRemaining()) ch.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + tmp + ": " + e.getMessage(), e);
        }
        try {
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rename " + tmp + " to " + out + ": " + e.getMessage(), e);
        }
        return new Written(out, ids.length, vocab);
    }
}
