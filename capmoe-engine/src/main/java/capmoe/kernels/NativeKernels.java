package capmoe.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * capmoe's native kernels: the one shared library {@code libcapmoe-kernels.so} that the Maven build
 * compiles from every {@code capmoe-engine/src/main/c/*.c} ({@code src/main/c/build.sh}) and puts in
 * the engine jar under {@code native/<os>-<arch>/}, loaded over FFM (the brief: "FFM for native
 * memory and native libraries"). {@code --dot reduced} needs them ({@link DotMode}); the exact
 * numerics need no library: only F16 prefill runs a C kernel when the library is there
 * ({@link F16Gemm}, the same bits as its Java path).
 *
 * <p>Loading, once per process, on first use:
 * <ol>
 *   <li>find the resource {@code native/<os>-<arch>/libcapmoe-kernels.so} on the class path;</li>
 *   <li>a plain file (a build's {@code target/classes}) is loaded where it is; one inside a jar is
 *       copied to a temporary file first (deleted when the JVM exits);</li>
 *   <li>{@link SymbolLookup#libraryLookup(Path, Arena)} in the global arena (never unloaded).</li>
 * </ol>
 * When the library is missing (no C compiler at build time, or another platform) {@link #missing}
 * says so in one line and every use throws an {@link IllegalArgumentException} with that line.
 *
 * <p>Adding a C function: write it in a {@code .c} file of {@code src/main/c} (the build picks up
 * every file), then get its handle with one line where it is used, e.g.
 * <pre>  static final MethodHandle DOT = NativeKernels.function("capmoe_q8_dot",
 *          FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, ...), true);</pre>
 * {@code heapArrays} true makes it a {@link Linker.Option#critical critical} downcall that may be
 * passed heap segments ({@link #heap}, no copy): for short kernels that
 * never block or call back into Java. Native segments (weight panels) may be passed either way.
 * {@link #function} returns a handle even when the library is missing (the class holding it can be
 * loaded); invoking it then throws the {@link #missing} line.
 */
public final class NativeKernels {
    private NativeKernels() { }

    /** The library's file name. */
    public static final String LIBRARY = "libcapmoe-kernels.so";

    private static final Linker LINKER = Linker.nativeLinker();

    /** The loaded library, or the reason it is not there: exactly one of the two is non-null. */
    private record Loaded(SymbolLookup lookup, String missing) { }

    private static final class Holder {
        static final Loaded LOADED = load();
    }

    /** {@code <os>-<arch>} as the build names it: linux-x86_64, linux-aarch64. */
    public static String platform() {
        String os = System.getProperty("os.name", "unknown").toLowerCase(Locale.ROOT).replaceAll("\\s.*", "");
        String arch = System.getProperty("os.arch", "unknown");
        if (arch.equals("amd64")) arch = "x86_64";
        return os + "-" + arch;
    }

    /** True when the library is loaded (or loads now). */
    public static boolean available() {
        return Holder.LOADED.lookup() != null;
    }

    /** Why the library is not available, in one line; null when it is. */
    public static String missing() {
        return Holder.LOADED.missing();
    }

    /** Nothing, when the library is there; else an {@link IllegalArgumentException} saying {@code who} needs it and what is missing. */
    public static void require(String who) {
        String m = missing();
        if (m != null) throw new IllegalArgumentException(who + " needs capmoe's native kernels: " + m);
    }

    /**
     * A downcall handle to the library's function {@code name} (see the class Javadoc); when the
     * library or the symbol is missing, a handle of the same type that throws the reason.
     */
    public static MethodHandle function(String name, FunctionDescriptor descriptor, boolean heapArrays) {
        Loaded l = Holder.LOADED;
        String why = l.missing();
        if (why == null) {
            var symbol = l.lookup().find(name);
            if (symbol.isPresent()) {
                return heapArrays ? LINKER.downcallHandle(symbol.get(), descriptor, Linker.Option.critical(true))
                        : LINKER.downcallHandle(symbol.get(), descriptor);
            }
            why = LIBRARY + " has no function " + name + " (rebuild: ./mvnw -pl capmoe-engine -am package -DskipTests)";
        }
        IllegalArgumentException error = new IllegalArgumentException(name + ": " + why);
        var type = descriptor.toMethodType();
        var thrower = java.lang.invoke.MethodHandles.throwException(type.returnType(), IllegalArgumentException.class).bindTo(error);
        return java.lang.invoke.MethodHandles.dropArguments(thrower, 0, type.parameterList());
    }

    /**
     * Per thread: heap segments over the last {@value #KEPT} arrays handed to the kernels, as
     * [array, segment] pairs, most recent first ({@link #heap}). A heap segment made per call (and
     * its slice) reaches the native call, so C2 cannot scalar-replace it: 3 to 6 objects per call,
     * about 20 KB per olmoe-tiny decode step (Q8_0, {@code QuantDot}; most of BF16's per-token
     * allocation in {@code ReducedMatMul}). The arrays are the callers' scratch (activation blocks,
     * gathered and hidden rows, each layer's outputs), the same ones on every step; an array kept
     * here stays reachable until {@value #KEPT} others have pushed it out.
     */
    private static final int KEPT = 32;
    private static final ThreadLocal<Object[]> SEGMENTS = ThreadLocal.withInitial(() -> new Object[2 * KEPT]);

    /** A heap segment over all of {@code a} for a {@code heapArrays} function, kept per thread ({@link #SEGMENTS}). */
    public static MemorySegment heap(float[] a) {
        MemorySegment s = kept(a);
        return s != null ? s : keep(a, MemorySegment.ofArray(a));
    }

    /** A heap segment over all of {@code a} for a {@code heapArrays} function, kept per thread ({@link #SEGMENTS}). */
    public static MemorySegment heap(byte[] a) {
        MemorySegment s = kept(a);
        return s != null ? s : keep(a, MemorySegment.ofArray(a));
    }

    private static MemorySegment kept(Object a) {
        Object[] c = SEGMENTS.get();
        for (int i = 0; i < c.length; i += 2) if (c[i] == a) return (MemorySegment) c[i + 1];
        return null;
    }

    private static MemorySegment keep(Object a, MemorySegment s) {
        Object[] c = SEGMENTS.get();
        System.arraycopy(c, 0, c, 2, c.length - 2);               // the least recent pair drops out
        c[0] = a;
        c[1] = s;
        return s;
    }

    private static Loaded load() {
        String resource = "native/" + platform() + "/" + LIBRARY;
        URL url = NativeKernels.class.getClassLoader().getResource(resource);
        if (url == null) {
            return new Loaded(null, resource + " is not on the class path: the build found no C compiler"
                    + " (install one, e.g. apt-get install -y --no-install-recommends gcc libc6-dev, then rebuild) or " + platform()
                    + " is not a platform it builds for");
        }
        try {
            Path file;
            if (url.getProtocol().equals("file")) {
                file = Path.of(url.toURI());
            } else {
                file = Files.createTempFile("capmoe-kernels-", ".so");
                file.toFile().deleteOnExit();
                try (InputStream in = url.openStream()) {
                    Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            return new Loaded(SymbolLookup.libraryLookup(file, Arena.global()), null);
        } catch (IOException | URISyntaxException | IllegalArgumentException | IllegalCallerException e) {
            return new Loaded(null, "cannot load " + url + ": " + e.getMessage());
        }
    }
}
