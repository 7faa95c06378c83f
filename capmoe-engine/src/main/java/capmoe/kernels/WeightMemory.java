package capmoe.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Native memory for the repacked weight matrices ({@link Panels}, {@link PairPanels},
 * {@link QuantPanels}, {@link QuantDotPanels}), on 2 MB pages where Linux lends them.
 *
 * <p>Why: a decode step streams every weight it uses once, from memory, in several interleaved
 * streams (one per panel of a tile). With 4 KB pages each stream misses the TLB every 4 KB and the
 * hardware prefetcher restarts at every page; on 2 MB pages neither happens. One Zen 4 core, exact
 * BF16 (the same kernel before and after), GFLOP/s of CPU time, {@code scripts/GemmBench.java}:
 * the experts' decode ({@code 64 1 2048 1024 BF16}) 28.4-29.8 on 4 KB pages, 30.8-33.0 on 2 MB
 * pages; the LM head's ({@code 1 1 2048 50304 BF16}) 27.9-28.0 and 32.1-32.5 (README, "Decode
 * GEMV"). The JVM's own allocations ({@link Arena#allocate}) come from malloc on 4 KB pages: Linux's
 * default transparent-huge-page mode ({@code madvise}) gives 2 MB pages only to memory marked
 * {@code MADV_HUGEPAGE} before it is first touched.
 *
 * <p>How, for matrices of at least {@link #HUGE_MIN} bytes on Linux (smaller ones, and any failure,
 * take {@link Arena#allocate}: the page size changes speed, never a value):
 * <ol>
 *   <li>{@code mmap} an anonymous private mapping 2 MB larger than asked (libc over FFM, so the exact
 *       numerics still need no library of capmoe's own);</li>
 *   <li>unmap the part before the first 2 MB boundary and the part after the end rounded up to 4 KB,
 *       so the segment starts on a 2 MB page and wastes at most one 4 KB page;</li>
 *   <li>{@code madvise(MADV_HUGEPAGE)} on it before anything touches it (fresh anonymous memory
 *       reads as zeros, as {@link Arena#allocate}'s does);</li>
 *   <li>hand it out in an automatic arena whose cleanup {@code munmap}s it when the matrix is
 *       unreachable.</li>
 * </ol>
 */
public final class WeightMemory {
    private WeightMemory() { }

    /** Matrices smaller than this (one 2 MB page) take {@link Arena#allocate}. */
    public static final long HUGE_MIN = 2L << 20;
    private static final long HUGE = 2L << 20, PAGE = 4096;
    private static final int PROT_READ_WRITE = 0x1 | 0x2, MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20, MADV_HUGEPAGE = 14;

    /** libc's mmap, munmap and madvise, or null when this is not Linux or libc lacks them. */
    private record Libc(MethodHandle mmap, MethodHandle munmap, MethodHandle madvise) {
        static final Libc LIBC = find();

        private static Libc find() {
            if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")) return null;
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                return new Libc(
                        linker.downcallHandle(libc.find("mmap").orElseThrow(),
                                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG)),
                        linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG)),
                        linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT)));
            } catch (RuntimeException e) {
                return null;
            }
        }
    }

    /**
     * {@code bytes} of zeroed native memory, 64-byte aligned (2 MB aligned when it is on huge pages),
     * freed when the segment is unreachable.
     */
    public static MemorySegment allocate(long bytes) {
        Libc libc = Libc.LIBC;
        if (bytes < HUGE_MIN || libc == null) return Arena.ofAuto().allocate(bytes, 64);
        try {
            long span = bytes + HUGE;
            long base = ((MemorySegment) libc.mmap().invokeExact(MemorySegment.NULL, span, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L)).address();
            if (base == -1L || base == 0L) return Arena.ofAuto().allocate(bytes, 64);   // MAP_FAILED
            long start = (base + HUGE - 1) & -HUGE, length = (bytes + PAGE - 1) & -PAGE, end = start + length;
            if (start > base) unmap(libc, base, start - base);
            if (base + span > end) unmap(libc, end, base + span - end);
            int advised = (int) libc.madvise().invokeExact(MemorySegment.ofAddress(start), length, MADV_HUGEPAGE);
            // not fatal: the mapping still works on 4 KB pages (e.g. transparent huge pages "never")
            assert advised == 0 || advised == -1;
            return MemorySegment.ofAddress(start).reinterpret(bytes, Arena.ofAuto(), s -> unmap(libc, start, length));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void unmap(Libc libc, long address, long length) {
        try {
            int ignored = (int) libc.munmap().invokeExact(MemorySegment.ofAddress(address), length);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
