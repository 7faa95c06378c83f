package capmoe.files;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A file written in full or not at all: the bytes go to a temporary file beside the target, which
 * {@link #commit} renames over it (atomically where the file system can). An interrupted run
 * (Ctrl-C, a crash, an exception before commit) never leaves a half-written target, and its
 * temporary file is deleted on {@link #abort} or when the JVM exits.
 *
 * <p>Steps: 1. {@link #create} makes the parent folders and an empty temporary file
 * {@code .NAME.PID.N.tmp} beside the target, with the permissions any new file gets there (the
 * umask's, as a plain write would give: not {@code createTempFile}'s owner-only 0600); 2. the caller writes {@link #temp()} (or {@link #open});
 * 3. {@link #commit} renames it onto the target, or {@link #abort} deletes it.
 */
public final class AtomicFile {
    /** Numbers the temporary files of this process. */
    private static final AtomicLong NEXT = new AtomicLong();

    private final Path target;
    private final Path temp;
    private boolean done;

    private AtomicFile(Path target, Path temp) {
        this.target = target;
        this.temp = temp;
    }

    /** Starts writing {@code target}. */
    public static AtomicFile create(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        try {
            Files.createDirectories(dir);
            String prefix = "." + abs.getFileName() + "." + ProcessHandle.current().pid() + ".";
            while (true) {
                Path temp = dir.resolve(prefix + NEXT.incrementAndGet() + ".tmp");
                try {
                    Files.createFile(temp); // default permissions (umask), as the target would get from a plain write
                } catch (FileAlreadyExistsException taken) {
                    continue; // left by an earlier process with this pid
                }
                temp.toFile().deleteOnExit();
                return new AtomicFile(target, temp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + " (" + e.getMessage() + ")", e);
        }
    }

    /** The file being written; renamed onto the target by {@link #commit}. */
    public Path temp() { return temp; }

    public Path target() { return target; }

    /** A stream onto the temporary file (the caller closes it before {@link #commit}). */
    public OutputStream open() {
        try {
            return Files.newOutputStream(temp);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + " (" + e.getMessage() + ")", e);
        }
    }

    /** Renames the temporary file onto the target. */
    public synchronized void commit() {
        if (done) throw new IllegalStateException(target + " is already committed or aborted");
        done = true;
        try {
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            abortQuietly();
            throw new UncheckedIOException("cannot write " + target + " (" + e.getMessage() + ")", e);
        }
    }

    /** Deletes the temporary file; the target stays as it was. Does nothing after {@link #commit}. */
    public synchronized void abort() {
        if (done) return;
        done = true;
        abortQuietly();
    }

    private void abortQuietly() {
        try {
            Files.deleteIfExists(temp);
        } catch (IOException ignored) {
            // deleteOnExit tries again
        }
    }

    /** Writes {@code text} (UTF-8) to {@code target} atomically. */
    public static void writeString(Path target, String text) {
        write(target, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Writes {@code bytes} to {@code target} atomically. */
    public static void write(Path target, byte[] bytes) {
        AtomicFile f = create(target);
        try {
            Files.write(f.temp, bytes);
            f.commit();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + " (" + e.getMessage() + ")", e);
        } finally {
            f.abort();
        }
    }
}
