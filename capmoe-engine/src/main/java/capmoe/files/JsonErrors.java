package capmoe.files;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;

/** Jackson's parse errors as one line: what is wrong and where (line, column), without the parser's source dump. */
public final class JsonErrors {
    private JsonErrors() { }

    /** e.g. "Unexpected end-of-input: expected close marker for Array at line 1, column 12". */
    public static String oneLine(JsonProcessingException e) {
        String what = e.getOriginalMessage() == null ? e.getClass().getSimpleName() : e.getOriginalMessage();
        what = what.lines().findFirst().orElse(what).strip();
        // "(start marker at [Source: REDACTED (...); line: 1, column: 16])": the parser's source dump, said plainly
        what = what.replaceAll("\\(start marker at \\[Source: .*?; line: (\\d+), column: (\\d+)\\]\\)", "(opened at line $1, column $2)")
                .replaceAll(" ?\\[Source: .*?\\]", "");
        JsonLocation at = e.getLocation();
        if (at != null && at.getLineNr() > 0) what += " at line " + at.getLineNr() + ", column " + at.getColumnNr();
        return what;
    }
}
