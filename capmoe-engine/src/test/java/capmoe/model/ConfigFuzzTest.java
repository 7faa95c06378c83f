package capmoe.model;

import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded fuzzing of the config.json reader on the six fixtures' configs: keys removed, values
 * replaced by other JSON values (fractions, negatives, huge numbers, strings, null, arrays,
 * objects), and text-level corruption of the file. Every case must give a config or one clear
 * line (IllegalArgumentException naming config.json), never another exception type. A failing
 * case prints its seed and index.
 */
class ConfigFuzzTest {
    static final long SEED = 20261130L;
    static final int STRUCTURAL_CASES = 6000;
    static final int TEXT_CASES = 600;
    static final List<String> ARCHS = List.of("olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3");
    static final String[] VALUES = {"-1", "0", "1", "64.5", "64.0", "-1e-6", "1e308", "2147483648", "9223372036854775807",
            "\"64\"", "\"float8\"", "\"bfloat16\"", "null", "true", "[]", "[1,2]", "{}", "{\"type\":\"yarn\"}", "NaN"};

    @TempDir Path tmp;

    @Test
    void everyMutatedConfigLoadsOrFailsWithOneClearLine() throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<ObjectNode> configs = new ArrayList<>();
        for (String a : ARCHS) configs.add((ObjectNode) json.readTree(Shared.require("fixtures/hf/" + a + "/config.json").toFile()));
        SplittableRandom rnd = new SplittableRandom(SEED);
        int loaded = 0, rejected = 0;
        for (int i = 0; i < STRUCTURAL_CASES; i++) {
            ObjectNode c = configs.get(rnd.nextInt(configs.size())).deepCopy();
            int edits = 1 + rnd.nextInt(3);
            for (int e = 0; e < edits; e++) {
                List<String> keys = new ArrayList<>();
                c.fieldNames().forEachRemaining(keys::add);
                String key = keys.get(rnd.nextInt(keys.size()));
                if (rnd.nextInt(4) == 0) {
                    c.remove(key);
                } else {
                    String v = VALUES[rnd.nextInt(VALUES.length)];
                    c.set(key, v.equals("NaN") ? json.getNodeFactory().numberNode(Double.NaN) : json.readTree(v));
                }
            }
            if (parse(c, i)) loaded++;
            else rejected++;
        }
        Path dir = tmp.resolve("m");
        Files.createDirectories(dir);
        for (int i = 0; i < TEXT_CASES; i++) {
            String text = Files.readString(Shared.require("fixtures/hf/" + ARCHS.get(rnd.nextInt(ARCHS.size())) + "/config.json"));
            char[] t = text.toCharArray();
            int flips = 1 + rnd.nextInt(3);
            for (int f = 0; f < flips; f++) t[rnd.nextInt(t.length)] = "{}[]:,\"0-.e x\u0000\u00ff".charAt(rnd.nextInt(15));
            String body = rnd.nextInt(5) == 0 ? new String(t, 0, rnd.nextInt(t.length)) : new String(t);
            Files.writeString(dir.resolve("config.json"), body);
            if (read(dir, STRUCTURAL_CASES + i)) loaded++;
            else rejected++;
        }
        System.out.printf("ConfigFuzzTest: %d cases (seed %d): %d loaded, %d rejected with a clear error%n",
                loaded + rejected, SEED, loaded, rejected);
        assertEquals(STRUCTURAL_CASES + TEXT_CASES, loaded + rejected);
        assertTrue(loaded > 0 && rejected > 0, loaded + " loaded, " + rejected + " rejected");
    }

    static boolean parse(JsonNode c, int index) {
        try {
            ModelConfig m = ConfigReader.parse(new ConfigReader.Keys(c, "config.json"));
            sane(m, index);
            return true;
        } catch (IllegalArgumentException e) {
            clear(e, index);
            return false;
        } catch (Throwable t) {
            fail("case " + index + " (seed " + SEED + "): " + t.getClass().getName() + " instead of a clear error: " + t.getMessage()
                    + "\nconfig: " + c, t);
            return false;
        }
    }

    static boolean read(Path dir, int index) {
        try {
            sane(ModelConfig.read(dir), index);
            return true;
        } catch (IllegalArgumentException e) {
            clear(e, index);
            return false;
        } catch (Throwable t) {
            fail("case " + index + " (seed " + SEED + "): " + t.getClass().getName() + " instead of a clear error: " + t.getMessage(), t);
            return false;
        }
    }

    /** A config that loads has what the engine relies on. */
    static void sane(ModelConfig m, int index) {
        assertTrue(m.hiddenSize() >= 1 && m.numHiddenLayers() >= 1 && m.numExperts() >= 1, "case " + index + ": " + m);
        assertTrue(m.topK() >= 1 && m.topK() <= m.numExperts(), "case " + index + ": " + m);
        assertTrue(m.rmsNormEps() > 0, "case " + index + ": rms_norm_eps " + m.rmsNormEps());
        assertTrue(List.of("float32", "bfloat16", "float16").contains(m.dtype()), "case " + index + ": dtype " + m.dtype());
    }

    static void clear(IllegalArgumentException e, int index) {
        assertTrue(e.getMessage() != null && e.getMessage().contains("config.json"), "case " + index + ": names the file: " + e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), "case " + index + ": one line: " + e.getMessage());
    }

    @Test
    void namedBadValuesGetOneLineNamingTheKey() throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode good = (ObjectNode) json.readTree(Shared.require("fixtures/hf/olmoe/config.json").toFile());
        String[][] cases = {
                {"hidden_size", "64.5", "key \"hidden_size\" must be an integer, got 64.5"},
                {"dtype", "\"float8\"", "key \"dtype\" is \"float8\"; capmoe runs float32, bfloat16 or float16"},
                {"rms_norm_eps", "-1e-5", "key \"rms_norm_eps\" must be > 0, got -1.0E-5"},
                {"num_key_value_heads", "0", "key \"num_key_value_heads\" must be >= 1, got 0"},
                {"eos_token_id", "[1.5]", "key \"eos_token_id\" must be an integer or a list of integers"},
        };
        for (String[] c : cases) {
            ObjectNode bad = good.deepCopy();
            bad.remove("torch_dtype");
            bad.set(c[0], json.readTree(c[1]));
            try {
                ConfigReader.parse(new ConfigReader.Keys(bad, "x/config.json"));
                fail(c[0] + " = " + c[1] + " was accepted");
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().contains(c[2]), e.getMessage());
            }
        }
        // 64.0 is an integer written as a float: accepted
        ObjectNode f = good.deepCopy();
        f.set("hidden_size", json.readTree(good.get("hidden_size").asInt() + ".0"));
        assertEquals(good.get("hidden_size").asInt(), ConfigReader.parse(new ConfigReader.Keys(f, "x/config.json")).hiddenSize());
        // a JSON syntax error is one line with its position, no parser internals
        Path dir = tmp.resolve("broken");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"olmoe\",\n \"hidden_size\": 64,,}");
        try {
            ModelConfig.read(dir);
            fail("accepted broken JSON");
        } catch (IllegalArgumentException e) {
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            assertTrue(e.getMessage().contains("is not valid JSON") && e.getMessage().contains("at line 2, column"), e.getMessage());
            assertTrue(!e.getMessage().contains("[Source:"), e.getMessage());
        }
    }
}
