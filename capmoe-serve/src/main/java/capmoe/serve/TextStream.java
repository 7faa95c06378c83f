package capmoe.serve;

import capmoe.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * A sequence's generated text as it grows, token by token: what is safe to send now, and whether a
 * stop string ended it. The whole continuation is decoded each time (a byte-level token may complete
 * a character only later, so a text ending in U+FFFD waits); a tail that could still become a stop
 * string is held back; a stop string cuts the text before it (OpenAI's semantics). The concatenation
 * of everything {@link #add} and {@link #finish} return is {@link #text()}.
 */
final class TextStream {
    private final Tokenizer tokenizer;
    private final List<String> stops;
    private int[] ids = new int[16];
    private int count;
    private String full = "";
    private int sent;          // chars of full already returned
    private boolean stopped;

    TextStream(Tokenizer tokenizer, List<String> stops) {
        this.tokenizer = tokenizer;
        this.stops = stops;
    }

    /** Appends a token of the text; returns the text now safe to send (may be empty). */
    String add(int id) {
        if (stopped) throw new IllegalStateException("the text already ended at a stop string");
        if (count == ids.length) ids = Arrays.copyOf(ids, 2 * count);
        ids[count++] = id;
        full = tokenizer.decode(Arrays.copyOf(ids, count));
        if (full.endsWith("\uFFFD")) return "";
        int cut = -1;
        for (String s : stops) {
            int at = full.indexOf(s, Math.max(0, sent - s.length() + 1));
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0) {
            stopped = true;
            full = full.substring(0, Math.max(cut, sent));
            return take(full.length());
        }
        return take(full.length() - heldBack());
    }

    /** The rest of the text when generation ends for another reason than a stop string. */
    String finish() {
        return take(full.length());
    }

    boolean stopped() { return stopped; }

    /** The text so far (after {@link #finish}: the whole continuation). */
    String text() { return full.substring(0, sent); }

    /** Length of the longest tail of the text that is a proper prefix of a stop string. */
    private int heldBack() {
        int hold = 0;
        for (String s : stops) {
            for (int len = Math.min(s.length() - 1, full.length()); len > hold; len--) {
                if (full.endsWith(s.substring(0, len))) {
                    hold = len;
                    break;
                }
            }
        }
        return hold;
    }

    private String take(int upTo) {
        if (upTo <= sent) return "";
        String out = full.substring(sent, upTo);
        sent = upTo;
        return out;
    }
}
