package capmoe.eval;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * lm-eval's {@code wikitext} task: each Wikipedia article ("page") is scored whole with rolling
 * windows after lm-eval's {@code wikitext_detokenizer}; word and byte counts come from the page
 * before detokenization, as lm-eval counts them.
 *
 * <p>Pages come from {@code wikitext/test.jsonl} ({"page": ...}, the EleutherAI/wikitext_document_level
 * schema) when present, else from the line file {@code wikitext-2/test.txt}, split at its level-1
 * headings (" = Title = "): 62 test pages, as in the document-level dataset. Note the line files in
 * shared/data are the tokenized release (with {@code <unk>}), not the raw one lm-eval reads, so the
 * numbers are comparable between policies, not with published lm-eval wikitext scores.
 */
public final class Wikitext {
    private Wikitext() { }

    private static final Pattern TITLE = Pattern.compile("^ = [^=].* = $");
    private static final Pattern WHITESPACE = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    static Task.RollingPerplexity task(Path dataDir, int limit) {
        Path jsonl = dataDir.resolve("wikitext/test.jsonl");
        Path lines = dataDir.resolve("wikitext-2/test.txt");
        List<String> pages = new ArrayList<>();
        if (Files.isRegularFile(jsonl)) {
            for (Jsonl.Item it : Jsonl.read(jsonl, Tasks.WIKITEXT)) pages.add(it.text("page"));
        } else if (Files.isRegularFile(lines)) {
            pages = pages(readText(lines));
        } else {
            throw new IllegalArgumentException("Missing task data for wikitext: neither " + jsonl + " (JSON lines: "
                    + Tasks.WIKITEXT + ") nor " + lines + " (the WikiText-2 test split, one paragraph per line)");
        }
        if (limit > 0 && limit < pages.size()) pages = pages.subList(0, limit);
        List<Task.Page> out = new ArrayList<>();
        for (String page : pages) out.add(new Task.Page(page, detokenize(page)));
        return new Task.RollingPerplexity("wikitext", out);
    }

    public static String readText(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("Missing task data file " + file + " (the WikiText-2 test split as text)");
        }
        String text;
        try {
            text = Files.readString(file);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalArgumentException(file + " is not UTF-8 text (a binary file?)");
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file + ": " + e.getMessage(), e);
        }
        if (text.indexOf('\0') >= 0) throw new IllegalArgumentException(file + " holds NUL bytes: not a text file");
        if (text.isBlank()) throw new IllegalArgumentException(file + " is empty: expected text");
        return text;
    }

    /** Splits a WikiText line file into articles, each from its " = Title = " line to the next. */
    static List<String> pages(String text) {
        List<String> pages = new ArrayList<>();
        StringBuilder page = null;
        for (String line : text.split("(?<=\n)")) {
            String bare = line.endsWith("\n") ? line.substring(0, line.length() - 1) : line;
            if (TITLE.matcher(bare).matches()) {
                if (page != null) pages.add(page.toString());
                page = new StringBuilder();
            }
            if (page != null) page.append(line);
        }
        if (page != null) pages.add(page.toString());
        return pages;
    }

    /** Words as lm-eval counts them: len(re.split(r"\s+", page)), empty pieces at the ends included. */
    static int words(String page) {
        Matcher m = WHITESPACE.matcher(page);
        int splits = 0;
        while (m.find()) splits++;
        return splits + 1;
    }

    /** lm-eval's wikitext_detokenizer, step by step. */
    static String detokenize(String string) {
        // contractions
        string = string.replace("s '", "s'");
        string = string.replaceAll("/' [0-9]/", "/'[0-9]/");
        // number separators
        string = string.replace(" @-@ ", "-");
        string = string.replace(" @,@ ", ",");
        string = string.replace(" @.@ ", ".");
        // punctuation
        string = string.replace(" : ", ": ");
        string = string.replace(" ; ", "; ");
        string = string.replace(" . ", ". ");
        string = string.replace(" ! ", "! ");
        string = string.replace(" ? ", "? ");
        string = string.replace(" , ", ", ");
        // double brackets
        string = sub("\\(\\s*([^\\)]*?)\\s*\\)", "($1)", string);
        string = sub("\\[\\s*([^\\]]*?)\\s*\\]", "[$1]", string);
        string = sub("\\{\\s*([^}]*?)\\s*\\}", "{$1}", string);
        string = sub("\"\\s*([^\"]*?)\\s*\"", "\"$1\"", string);
        string = sub("'\\s*([^']*?)\\s*'", "'$1'", string);
        // miscellaneous
        string = string.replace("= = = =", "====");
        string = string.replace("= = =", "===");
        string = string.replace("= =", "==");
        string = string.replace(" " + (char) 176 + " ", String.valueOf((char) 176));
        string = string.replace(" \n", "\n");
        string = string.replace("\n ", "\n");
        string = string.replace(" N ", " 1 ");
        string = string.replace(" 's", "'s");
        return string;
    }

    /** re.sub with Python's Unicode \s. */
    private static String sub(String regex, String replacement, String s) {
        return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS).matcher(s).replaceAll(replacement);
    }
}
