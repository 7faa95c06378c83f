package capmoe.eval;

import capmoe.tokenizer.HfTokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A real HF tokenizer.json for the random-weight fixture models (which ship none): GPT-2's
 * byte-level alphabet with no merges, so token id = byte value. Tests can then compute the ids of
 * any text independently, as its UTF-8 bytes.
 */
final class ByteTokenizer {
    private ByteTokenizer() { }

    static HfTokenizer load(Path dir) {
        StringBuilder vocab = new StringBuilder();
        int[] unicodeOf = bytesToUnicode();
        for (int b = 0; b < 256; b++) {
            if (b > 0) vocab.append(',');
            vocab.append('"').append(jsonChar(unicodeOf[b])).append("\":").append(b);
        }
        String json = """
                {"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
                 "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
                 "post_processor":null,
                 "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
                 "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
                          "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
                          "vocab":{%s},"merges":[]}}
                """.formatted(vocab);
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("tokenizer.json"), json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return HfTokenizer.load(dir);
    }

    /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n. */
    static int[] bytesToUnicode() {
        int[] out = new int[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) out[b] = printable[b] ? b : 256 + n++;
        return out;
    }

    private static String jsonChar(int cp) {
        if (cp == '"' || cp == '\\') return "\\" + (char) cp;
        return new String(Character.toChars(cp));
    }
}
