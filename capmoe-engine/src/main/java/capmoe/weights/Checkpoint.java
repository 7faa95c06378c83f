package capmoe.weights;

import capmoe.kernels.Matrix;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The weights of a hub checkpoint directory: {@code model.safetensors}, or shards listed by
 * {@code model.safetensors.index.json}, or (without an index) every {@code model*.safetensors}.
 * All files are memory-mapped in one shared arena; closing the checkpoint unmaps them.
 */
public final class Checkpoint implements AutoCloseable {
    private final Path dir;
    private final Arena arena;
    private final Map<String, Tensor> tensors;

    private Checkpoint(Path dir, Arena arena, Map<String, Tensor> tensors) {
        this.dir = dir;
        this.arena = arena;
        this.tensors = tensors;
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("model directory " + dir + " does not exist");
        Arena arena = Arena.ofShared();
        try {
            Map<String, Tensor> tensors = new TreeMap<>();
            Path index = dir.resolve("model.safetensors.index.json");
            if (Files.exists(index)) {
                Map<String, String> weightMap = readIndex(index);
                Map<String, SafeTensorsFile> files = new LinkedHashMap<>();
                for (var e : weightMap.entrySet()) {
                    SafeTensorsFile f = files.computeIfAbsent(e.getValue(), name -> {
                        Path p = dir.resolve(name);
                        if (!Files.exists(p)) {
                            throw new IllegalArgumentException(index + " lists shard " + name + " (for tensor " + e.getKey() + ") but " + p + " does not exist");
                        }
                        return SafeTensorsFile.open(p, arena);
                    });
                    Tensor t = f.tensors().get(e.getKey());
                    if (t == null) {
                        throw new IllegalArgumentException(index + " says tensor " + e.getKey() + " is in " + e.getValue() + " but that file does not contain it");
                    }
                    tensors.put(e.getKey(), t);
                }
            } else {
                List<Path> shards = new ArrayList<>();
                try (Stream<Path> s = Files.list(dir)) {
                    s.filter(p -> {
                        String n = p.getFileName().toString();
                        return n.startsWith("model") && n.endsWith(".safetensors");
                    }).sorted().forEach(shards::add);
                }
                if (shards.isEmpty()) throw new IllegalArgumentException("no model*.safetensors file in " + dir);
                for (Path p : shards) {
                    for (Tensor t : SafeTensorsFile.open(p, arena).tensors().values()) {
                        Tensor prev = tensors.putIfAbsent(t.name(), t);
                        if (prev != null) {
                            throw new IllegalArgumentException("tensor " + t.name() + " appears in both " + prev.file() + " and " + p);
                        }
                    }
                }
            }
            return new Checkpoint(dir, arena, tensors);
        } catch (IOException e) {
            arena.close();
            throw new IllegalArgumentException("cannot read " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, String> readIndex(Path index) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(index + " is not valid JSON: " + e.getMessage());
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new IllegalArgumentException(index + " has no \"weight_map\" object");
        Map<String, String> out = new LinkedHashMap<>();
        map.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }

    public Path dir() { return dir; }

    public Map<String, Tensor> tensors() { return tensors; }

    public boolean has(String name) { return tensors.containsKey(name); }

    /** The tensor, or a clear error naming it and the directory. */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException("tensor " + name + " is missing from the checkpoint in " + dir
                    + " (it has " + tensors.size() + " tensors)");
        }
        return t;
    }

    /** A [rows x cols] weight matrix read in place (HF Linear layout: [out_features, in_features]). */
    public Matrix matrix(String name, int rows, int cols, String why) {
        Tensor t = tensor(name).expectShape(why, rows, cols);
        if (t.dtype() != DType.BF16 && t.dtype() != DType.F32 && t.dtype() != DType.F16) {
            throw new IllegalArgumentException("tensor " + name + " in " + t.file() + " is " + t.dtype() + "; weights must be BF16, F16 or F32");
        }
        return new Matrix(name, t.dtype(), rows, cols, t.data());
    }

    /** A small vector (norm weight, bias) copied to float. */
    public float[] vector(String name, int n, String why) {
        return tensor(name).expectShape(why, n).toFloatArray();
    }

    @Override
    public void close() {
        arena.close();
    }
}
