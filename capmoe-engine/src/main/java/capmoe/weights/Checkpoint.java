package capmoe.weights;

import capmoe.files.JsonFiles;
import capmoe.kernels.DotMode;
import capmoe.kernels.Matrix;
import capmoe.kernels.NativeKernels;
import capmoe.kernels.Parallel;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
    private final DType quantize;
    private final DotMode dot;
    private final GgufFile gguf;

    private Checkpoint(Path dir, Arena arena, Map<String, Tensor> tensors, LoadOptions options, GgufFile gguf) {
        this.dir = dir;
        this.arena = arena;
        this.tensors = tensors;
        this.quantize = options.quantize();
        this.dot = options.dot();
        this.gguf = gguf;
    }

    public static Checkpoint open(Path dir) {
        return open(dir, LoadOptions.DEFAULT);
    }

    /**
     * {@link #open(Path)}, and when {@code options.quantize()} is Q8_0 or Q4_0, every weight matrix that
     * {@link #quantizes} selects is quantized at load ({@link #matrix}; null keeps the stored dtypes),
     * every weight matrix multiplied in the arithmetic of {@code options.dot()} ({@link DotMode};
     * REDUCED needs the native kernels, checked here).
     */
    public static Checkpoint open(Path dir, LoadOptions options) {
        requireKernels(options);
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
            return new Checkpoint(dir, arena, tensors, options, null);
        } catch (IOException e) {
            arena.close();
            throw new IllegalArgumentException("cannot read " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, String> readIndex(Path index) throws IOException {
        JsonNode root = JsonFiles.read(index);
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

    /**
     * A [rows x cols] weight matrix (HF Linear layout: [out_features, in_features]), read in place
     * and repacked for the matmul kernel ({@link #packed}) —
     * or, when the checkpoint was opened with a quantize format and {@link #quantizes} selects the
     * tensor, quantized once. A Q8_0/Q4_0 matrix with panels keeps only those of its dot mode ({@link Matrix#packedQuantized}):
     * {@code --quantize}'s row-major blocks are made in a temporary arena, packed and freed, and a
     * GGUF file's mapped blocks are read once to pack them and not again.
     */
    public Matrix matrix(String name, int rows, int cols, String why) {
        Tensor t = tensor(name).expectShape(why, rows, cols);
        return switch (t.dtype()) {
            case BF16, F32, F16 -> {
                if (quantize == null || !quantizes(name, cols)) yield packed(new Matrix(name, t.dtype(), rows, cols, t.data(), dot));
                if (rowsOnly(name)) yield new Matrix(name, quantize, rows, cols, quantized(t, rows, cols, arena), dot);
                try (Arena blocks = Arena.ofShared()) {
                    yield Matrix.packedQuantized(new Matrix(name, quantize, rows, cols, quantized(t, rows, cols, blocks)), dot);
                }
            }
            case Q8_0, Q4_0 -> rowsOnly(name) ? new Matrix(name, t.dtype(), rows, cols, t.data(), dot)
                    : Matrix.packedQuantized(new Matrix(name, t.dtype(), rows, cols, t.data()), dot);
            default -> throw new IllegalArgumentException("tensor " + name + " in " + t.file() + " is " + t.dtype()
                    + "; weights must be BF16, F16, F32, Q8_0 or Q4_0");
        };
    }

    /**
     * The embedding table is only read by rows: it gets no panels at load (tied to the LM head, it
     * is packed on its first matmul instead) and keeps its row-major form.
     */
    private static boolean rowsOnly(String name) {
        return name.endsWith("embed_tokens.weight");
    }

    /**
     * The float matrix with its {@link Matrix#panels} built now, at load, so that no forward pass
     * pays for it (an expert first routed to in a timed decode step would); except the embedding
     * table ({@link #rowsOnly}).
     */
    private static Matrix packed(Matrix m) {
        if (rowsOnly(m.name())) return m;
        if (m.reducedBf16()) m.pairPanels();   // --dot reduced: the vdpbf16ps layout instead
        else m.panels();
        return m;
    }

    /**
     * A checkpoint over a GGUF file's tensors, already mapped into {@code arena} under their HF names;
     * the checkpoint owns the arena. {@code source} names it in errors; {@code options} as in
     * {@link #open(Path, LoadOptions)}.
     */
    public static Checkpoint of(Path source, Arena arena, Map<String, Tensor> tensors, LoadOptions options, GgufFile gguf) {
        requireKernels(options);
        return new Checkpoint(source, arena, new TreeMap<>(tensors), options, gguf);
    }

    /** A clear error when {@code --dot reduced} is asked for and the native kernels did not load. */
    private static void requireKernels(LoadOptions options) {
        if (options.dot() == DotMode.REDUCED) NativeKernels.require("--dot reduced");
    }

    /** The GGUF file these weights come from, or null for a safetensors checkpoint. */
    public GgufFile gguf() { return gguf; }

    /** The arena that owns this checkpoint's mappings and quantized copies. */
    public Arena arena() { return arena; }

    /** The format given to {@link #open(Path, LoadOptions)} ({@code --quantize}), or null. */
    public DType quantize() { return quantize; }

    /** The arithmetic every weight matrix of this checkpoint is multiplied in ({@code --dot}). */
    public DotMode dot() { return dot; }

    /**
     * Which weight matrices {@code --quantize} converts: all of them whose rows are whole blocks of 32,
     * except the routers ({@code mlp.gate}, Mixtral's {@code block_sparse_moe.gate}, Qwen2-MoE's
     * {@code shared_expert_gate}), which llama.cpp keeps in full precision too
     * ({@code src/llama-quant.cpp} line 308 skips {@code ffn_gate_inp}; the converter,
     * {@code conversion/base.py} lines 944–945, keeps FFN_GATE_INP and FFN_GATE_INP_SHEXP in F32).
     * Embedding and LM head are quantized, as llama.cpp's Q8_0 converter and {@code llama-quantize --pure} do.
     */
    public static boolean quantizes(String name, int cols) {
        return cols % Quantizer.BLOCK == 0 && !name.endsWith(".gate.weight") && !name.endsWith("shared_expert_gate.weight");
    }

    /** Tensor t rounded to {@link #quantize}'s row-major blocks, in memory of {@code into}; parallel over rows. */
    private MemorySegment quantized(Tensor t, int rows, int cols, Arena into) {
        long rowBytes = quantize.bytes(cols);
        MemorySegment out = into.allocate(rowBytes * rows, 8);
        Parallel.defaults().forRange(rows, 16, (r0, r1) -> {
            float[] row = new float[cols];
            for (int r = r0; r < r1; r++) {
                long base = (long) r * cols;
                for (int c = 0; c < cols; c++) row[c] = t.getFloat(base + c);
                Quantizer.quantize(quantize, row, 0, cols, out, r * rowBytes);
            }
        });
        return out;
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
