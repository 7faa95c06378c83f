package capmoe.model.deepseek;

import capmoe.model.SameMath;
import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints on the hub (DeepSeek-V2-Lite, DeepSeek-V3) carry transformers-4 style configs:
 * rope_theta + rope_scaling {"type": "yarn", ...} instead of rope_parameters, no head_dim, and the
 * remote-code router keys (topk_method, scoring_func). The same weights under such a config must
 * compute exactly the logits of the fixture's transformers-5 config (same parameters, same code:
 * bit for bit).
 */
class HubConfigTest {
    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The fixture with its config rewritten hub style. */
    private Path hubStyle(Path fixture, String name, boolean v3) throws IOException {
        Path dir = FixtureCopy.copy(fixture, tmp.resolve(name), FixtureCopy::same);
        ObjectNode c = (ObjectNode) JSON.readTree(fixture.resolve("config.json").toFile());
        ObjectNode rope = (ObjectNode) c.remove("rope_parameters");
        assertTrue(rope != null, "the fixture config has rope_parameters");
        c.set("rope_theta", rope.remove("rope_theta"));
        String type = rope.remove("rope_type").asText();
        rope.remove("type");
        if (type.equals("default")) {
            c.putNull("rope_scaling");
        } else {
            rope.put("type", type);
            c.set("rope_scaling", rope);
        }
        c.remove("head_dim");
        if (v3) {
            c.put("topk_method", "noaux_tc");
            c.put("scoring_func", "sigmoid");
        }
        Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(c));
        return dir;
    }

    @Test
    void v2LiteStyleYarnConfigGivesIdenticalLogits() throws IOException {
        Path v2 = Shared.require("fixtures/hf/deepseek_v2");
        Path hub = hubStyle(v2, "v2", false);
        assertTrue(Files.readString(hub.resolve("config.json")).contains("\"rope_scaling\" : {"), "yarn moved to rope_scaling");
        assertSameLogits(v2, hub);
    }

    @Test
    void v3StyleConfigGivesIdenticalLogits() throws IOException {
        Path v3 = Shared.require("fixtures/hf/deepseek_v3");
        assertSameLogits(v3, hubStyle(v3, "v3", true));
    }

    private static void assertSameLogits(Path fixture, Path hubStyle) {
        int[][] seq = {SameMath.tokens(30, 384, 11)};
        try (CausalLM a = Models.load(fixture); CausalLM b = Models.load(hubStyle)) {
            assertArrayEquals(a.forward(seq, RunOptions.defaults())[0], b.forward(seq, RunOptions.defaults())[0]);
        }
    }
}
