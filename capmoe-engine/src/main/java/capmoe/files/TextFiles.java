package capmoe.files;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads a UTF-8 text file that a user gave, every failure as one line naming the option and the file. */
public final class TextFiles {
    private TextFiles() { }

    /**
     * The file's text.
     *
     * @param what how the user named it, e.g. "--prompt-file"
     */
    public static String read(Path file, String what) {
        try {
            return Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(what + " " + file + ": no such file");
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(what + " " + file + " is not UTF-8 text (a binary file?)");
        } catch (IOException e) {
            throw new IllegalArgumentException(what + " " + file + ": cannot read (" + e.getMessage() + ")");
        }
    }
}
