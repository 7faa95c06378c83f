package capmoe.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench} interrupted while it writes its temporary model leaves nothing behind (shutdown hook). */
class BenchCleanupTest {

    @Test
    void anInterruptedBenchDeletesItsTemporaryModel(@TempDir Path tmp) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Djava.io.tmpdir=" + tmp, "-cp", System.getProperty("java.class.path"), "capmoe.cli.Main", "bench", "--layers", "1")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("log.txt").toFile()).start();
        // wait until the model file is being written (into its temporary file beside model.safetensors, renamed
        // when complete), then interrupt as Ctrl-C would (SIGTERM runs the same hooks)
        Path model = null;
        for (int i = 0; i < 600 && model == null && p.isAlive(); i++) {
            try (var dirs = Files.list(tmp)) {
                for (Path d : dirs.filter(d -> d.getFileName().toString().startsWith("capmoe-bench")).toList()) {
                    try (var files = Files.list(d)) {
                        model = files.filter(f -> f.getFileName().toString().contains("model.safetensors")).findFirst().orElse(model);
                    }
                }
            }
            Thread.sleep(100);
        }
        assertTrue(model != null, "bench started writing its model: " + Files.readString(tmp.resolve("log.txt")));
        p.destroy();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "bench stopped");
        try (var dirs = Files.list(tmp)) {
            assertEquals(List.of(), dirs.filter(d -> d.getFileName().toString().startsWith("capmoe-bench")).toList(),
                    "the temporary model is gone: " + Files.readString(tmp.resolve("log.txt")));
        }
        assertTrue(Files.readString(tmp.resolve("log.txt")).contains("deleted afterwards, also when interrupted"));
    }
}
