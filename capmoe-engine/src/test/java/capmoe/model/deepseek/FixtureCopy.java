package capmoe.model.deepseek;

import capmoe.weights.SafeTensorsFile;
import capmoe.weights.SafeTensorsWriter;
import capmoe.weights.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** Edited copies of an HF fixture directory: config.json text replacements and per-tensor rewrites. */
final class FixtureCopy {
    private FixtureCopy() { }

    /** Copies every tensor byte for byte. */
    static SafeTensorsWriter.Entry same(Tensor t) {
        return new SafeTensorsWriter.Entry(t.name(), t.dtype(), t.shape(), (out, first) -> {
            long off = first * t.dtype().size();
            out.put(t.data().asSlice(off, out.remaining()).toArray(ValueLayout.JAVA_BYTE));
        });
    }

    /**
     * Copies {@code src} to {@code dst}; each {@code replacements} pair (old, new) must occur in
     * config.json; {@code tensors} maps each tensor to its new entry, or null to leave it out.
     */
    static Path copy(Path src, Path dst, Function<Tensor, SafeTensorsWriter.Entry> tensors, String... replacements) throws IOException {
        Files.createDirectories(dst);
        String config = Files.readString(src.resolve("config.json"));
        for (int i = 0; i < replacements.length; i += 2) {
            if (!config.contains(replacements[i])) throw new IllegalStateException(src + "/config.json has no " + replacements[i]);
            config = config.replace(replacements[i], replacements[i + 1]);
        }
        Files.writeString(dst.resolve("config.json"), config);
        try (Arena arena = Arena.ofShared()) {
            List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
            for (Tensor t : SafeTensorsFile.open(src.resolve("model.safetensors"), arena).tensors().values()) {
                SafeTensorsWriter.Entry e = tensors.apply(t);
                if (e != null) entries.add(e);
            }
            SafeTensorsWriter.write(dst.resolve("model.safetensors"), null, entries);
        }
        return dst;
    }
}
