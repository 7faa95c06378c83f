package capmoe.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a task's JSON-lines file. Every error names the file, the line and the expected schema,
 * because the files come from many places (HF datasets exports, hand-made subsets).
 */
public final class Jsonl {
    private Jsonl() { }

    /** One parsed line with typed accessors that fail with file:line context. */
    public record Item(Path file, int line, JsonNode node, String schema) {

        public String text(String field) {
            JsonNode v = field(field);
            if (!v.isTextual()) throw error("field '" + field + "' must be a string, got " + v.getNodeType());
            return v.asText();
        }

        public int integer(String field) {
            JsonNode v = field(field);
            if (v.isIntegralNumber()) return v.asInt();
            // HF exports sometimes store class labels as strings ("0", "3").
            if (v.isTextual() && v.asText().strip().matches("-?\\d+")) return Integer.parseInt(v.asText().strip());
            throw error("field '" + field + "' must be an integer, got " + v);
        }

        public List<String> texts(String field) {
            JsonNode v = field(field);
            if (!v.isArray()) throw error("field '" + field + "' must be a list of strings, got " + v.getNodeType());
            List<String> out = new ArrayList<>();
            for (JsonNode e : v) {
                if (!e.isTextual()) throw error("field '" + field + "' must be a list of strings, got an element " + e);
                out.add(e.asText());
            }
            return out;
        }

        /** A nested object field, e.g. choices in ARC ({"text": [...], "label": [...]}). */
        public Item object(String field) {
            JsonNode v = field(field);
            if (!v.isObject()) throw error("field '" + field + "' must be an object, got " + v.getNodeType());
            return new Item(file, line, v, schema);
        }

        public boolean has(String field) {
            return node.has(field) && !node.get(field).isNull();
        }

        private JsonNode field(String field) {
            JsonNode v = node.get(field);
            if (v == null || v.isNull()) throw error("missing field '" + field + "'");
            return v;
        }

        /** An error about this line, e.g. a label out of range. */
        public IllegalArgumentException error(String what) {
            return new IllegalArgumentException(file + ":" + line + ": " + what + " (expected one JSON object per line: "
                    + schema + ")");
        }
    }

    /** Reads every non-blank line of {@code file}; {@code schema} describes the expected fields for error messages. */
    public static List<Item> read(Path file, String schema) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("Missing task data file " + file + " (expected JSON lines: " + schema + ")");
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalArgumentException(file + " is not UTF-8 text (a binary file?); expected JSON lines: " + schema);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file + ": " + e.getMessage(), e);
        }
        ObjectMapper json = new ObjectMapper();
        List<Item> items = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            JsonNode node;
            try {
                node = json.readTree(line);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": not valid JSON: "
                        + e.getOriginalMessage() + " (expected one JSON object per line: " + schema + ")");
            }
            if (!node.isObject()) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": expected a JSON object, got "
                        + node.getNodeType() + " (expected one JSON object per line: " + schema + ")");
            }
            items.add(new Item(file, i + 1, node, schema));
        }
        if (items.isEmpty()) {
            throw new IllegalArgumentException(file + " is empty: expected one JSON object per line (" + schema + ")");
        }
        return items;
    }
}
