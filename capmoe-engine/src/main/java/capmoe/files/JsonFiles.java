package capmoe.files;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Reads a JSON file that a user gave (config.json, tokenizer.json, an index, a reference...), every
 * failure as one line naming the file: missing, unreadable, not UTF-8 text, or not valid JSON with
 * what and where ({@link JsonErrors#oneLine}), never the parser's source dump on a second line.
 */
public final class JsonFiles {
    private JsonFiles() { }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The file's JSON tree (a missing node for an empty file); an IllegalArgumentException naming the file otherwise. */
    public static JsonNode read(Path file) {
        return read(file, JSON);
    }

    /** As {@link #read(Path)}, with the caller's mapper (e.g. one that reads NaN). */
    public static JsonNode read(Path file, ObjectMapper mapper) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            try {
                StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)); // REPORTs malformed input
            } catch (CharacterCodingException e) {
                throw new IllegalArgumentException(file + " is not UTF-8 text (a binary file?)");
            }
            return mapper.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + JsonErrors.oneLine(e));
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such file");
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + " (" + e.getMessage() + ")");
        }
    }
}
