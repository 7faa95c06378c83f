package capmoe.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the project's shared real data ({@code ../shared} beside the checkout: HF fixtures,
 * routing golden cases, the trained olmoe-tiny model, WikiText-2, PIQA). Tests that need it fail
 * with a message naming what is missing; they never skip silently. Override with
 * {@code -Dcapmoe.shared=DIR} or the {@code CAPMOE_SHARED} environment variable.
 */
public final class Shared {
    private Shared() { }

    /** The shared directory, or an AssertionError that says where it was looked for. */
    public static Path dir() {
        String explicit = System.getProperty("capmoe.shared", System.getenv("CAPMOE_SHARED"));
        if (explicit != null) {
            Path p = Path.of(explicit);
            if (!Files.isDirectory(p)) throw new AssertionError("capmoe.shared=" + p + " is not a directory");
            return p;
        }
        Path start = Path.of("").toAbsolutePath();
        for (Path p = start; p != null; p = p.getParent()) {
            Path candidate = p.resolve("shared");
            if (Files.isDirectory(candidate.resolve("fixtures"))) return candidate;
        }
        throw new AssertionError("The shared test data directory was not found: looked for shared/fixtures in "
                + start + " and every parent. It is expected at ../shared beside the checkout "
                + "(or set -Dcapmoe.shared=DIR / CAPMOE_SHARED).");
    }

    /** A file or directory inside the shared directory that must exist. */
    public static Path require(String relative) {
        Path p = dir().resolve(relative);
        if (!Files.exists(p)) {
            throw new AssertionError("Missing shared test data: " + p + " (expected in ../shared/" + relative + ")");
        }
        return p;
    }
}
