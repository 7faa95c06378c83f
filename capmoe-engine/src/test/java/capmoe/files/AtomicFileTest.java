package capmoe.files;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class AtomicFileTest {

    /** A report written atomically gets the permissions of any new file there (it was owner-only 0600, from createTempFile). */
    @Test
    void aWrittenFileHasTheUsualPermissionsNotOwnerOnly(@TempDir Path dir) throws IOException {
        Path plain = Files.createFile(dir.resolve("plain.txt")); // what the umask gives a new file
        Path written = dir.resolve("reports/report.html");
        AtomicFile.writeString(written, "<html></html>");
        assertEquals("<html></html>", Files.readString(written));
        assertEquals(PosixFilePermissions.toString(Files.getPosixFilePermissions(plain)),
                PosixFilePermissions.toString(Files.getPosixFilePermissions(written)));
        try (var s = Files.list(written.getParent())) {
            assertEquals(1, s.count(), "no temporary file is left beside the target");
        }
    }

    @Test
    void anAbortedWriteLeavesTheTargetAsItWasAndNoTemporaryFile(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("out.json");
        Files.writeString(target, "old");
        AtomicFile f = AtomicFile.create(target);
        Files.writeString(f.temp(), "half");
        f.abort();
        assertEquals("old", Files.readString(target));
        assertFalse(Files.exists(f.temp()));
        assertThrows(IllegalStateException.class, f::commit);
    }
}
