package capmoe.model;

import capmoe.testing.Shared;
import capmoe.weights.SafeTensorsFile;
import capmoe.weights.SafeTensorsWriter;
import capmoe.weights.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broken copies of the OLMoE fixture fail at load with an error naming the tensor, the file or the config key. */
class BrokenCheckpointTest {
    @TempDir
    Path tmp;

    /** Copies the fixture, keeping the tensors {@code keep} accepts, split over {@code shards} files, config edited. */
    static Path copy(Path src, Path dst, Predicate<String> keep, UnaryOperator<String> config, int shards) throws IOException {
        Files.createDirectories(dst);
        Files.writeString(dst.resolve("config.json"), config.apply(Files.readString(src.resolve("config.json"))));
        try (Arena arena = Arena.ofShared()) {
            List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
            for (Tensor t : SafeTensorsFile.open(src.resolve("model.safetensors"), arena).tensors().values()) {
                if (!keep.test(t.name())) continue;
                entries.add(new SafeTensorsWriter.Entry(t.name(), t.dtype(), t.shape(), (out, first) -> {
                    long off = first * t.dtype().size();
                    int n = out.remaining();
                    out.put(t.data().asSlice(off, n).toArray(ValueLayout.JAVA_BYTE));
                }));
            }
            if (shards == 1) {
                SafeTensorsWriter.write(dst.resolve("model.safetensors"), null, entries);
            } else {
                StringBuilder index = new StringBuilder("{\"metadata\":{},\"weight_map\":{");
                int per = (entries.size() + shards - 1) / shards;
                for (int s = 0; s < shards; s++) {
                    String name = String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
                    List<SafeTensorsWriter.Entry> part = entries.subList(s * per, Math.min(entries.size(), (s + 1) * per));
                    SafeTensorsWriter.write(dst.resolve(name), null, part);
                    for (var e : part) index.append(index.charAt(index.length() - 1) == '{' ? "" : ",").append('"').append(e.name()).append("\":\"").append(name).append('"');
                }
                Files.writeString(dst.resolve("model.safetensors.index.json"), index.append("}}").toString());
            }
        }
        return dst;
    }

    private String loadError(Path dir) {
        return assertThrows(IllegalArgumentException.class, () -> Models.load(dir).close()).getMessage();
    }

    private final Path olmoe = Shared.require("fixtures/hf/olmoe");

    @Test
    void shardedCopyGivesIdenticalLogits() throws IOException {
        Path dir = copy(olmoe, tmp.resolve("sharded"), n -> true, c -> c, 3);
        int[][] seq = {{5, 77, 300, 12}};
        try (CausalLM a = Models.load(olmoe); CausalLM b = Models.load(dir)) {
            assertArrayEquals(a.forward(seq, RunOptions.defaults())[0], b.forward(seq, RunOptions.defaults())[0]);
        }
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        Path dir = copy(olmoe, tmp.resolve("missing"), n -> !n.equals("model.layers.1.mlp.experts.3.up_proj.weight"), c -> c, 1);
        String msg = loadError(dir);
        assertTrue(msg.contains("tensor model.layers.1.mlp.experts.3.up_proj.weight is missing"), msg);
    }

    @Test
    void wrongShapeNamesTensorAndConfigKeys() throws IOException {
        Path dir = copy(olmoe, tmp.resolve("shape"), n -> true, c -> c.replace("\"intermediate_size\": 32", "\"intermediate_size\": 48"), 1);
        String msg = loadError(dir);
        assertTrue(msg.contains("model.layers.0.mlp.experts.0.gate_proj.weight") && msg.contains("[32, 64]")
                && msg.contains("[48, 64]") && msg.contains("intermediate_size=48"), msg);
    }

    @Test
    void configWithFewerExpertsThanTheWeightsIsRejected() throws IOException {
        Path dir = copy(olmoe, tmp.resolve("experts"), n -> true, c -> c.replace("\"num_experts\": 16", "\"num_experts\": 8"), 1);
        String msg = loadError(dir);
        assertTrue(msg.contains("num_experts=8"), msg);
        Path heads = copy(olmoe, tmp.resolve("heads"), n -> true, c -> c.replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 2"), 1);
        msg = loadError(heads);
        assertTrue(msg.contains("self_attn.k_") && msg.contains("num_key_value_heads=2"), msg);
    }

    @Test
    void truncatedWeightsFileIsRejected() throws IOException {
        Path dir = copy(olmoe, tmp.resolve("trunc"), n -> true, c -> c, 1);
        Path f = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length / 2));
        String msg = loadError(dir);
        assertTrue(msg.contains(f.toString()) && msg.contains("truncated"), msg);
    }

    @Test
    void tokenOutsideTheVocabularyIsRejected() {
        try (CausalLM m = Models.load(olmoe)) {
            String msg = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[][] {{1, 384}}, RunOptions.defaults())).getMessage();
            assertTrue(msg.contains("token id 384") && msg.contains("0..383"), msg);
        }
    }
}
