package capmoe.kernels;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link WeightMemory}: segments of exactly the size asked, zeroed, writable to the last byte,
 * 64-byte aligned, and on Linux from {@link WeightMemory#HUGE_MIN} bytes on 2 MB aligned (the
 * mapping the huge pages need).
 */
class WeightMemoryTest {
    private static final boolean LINUX = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux");

    @Test
    void segmentsAreZeroedWritableAndAligned() {
        for (long bytes : new long[] {64, 4096 + 3, WeightMemory.HUGE_MIN - 1, WeightMemory.HUGE_MIN, 3 * WeightMemory.HUGE_MIN + 4097}) {
            MemorySegment s = WeightMemory.allocate(bytes);
            assertEquals(bytes, s.byteSize(), "size of " + bytes);
            assertEquals(0, s.address() % 64, "64-byte alignment of " + bytes);
            if (LINUX && bytes >= WeightMemory.HUGE_MIN) assertEquals(0, s.address() % (2L << 20), "2 MB alignment of " + bytes);
            for (long i = 0; i < bytes; i += 4093) assertEquals(0, s.get(ValueLayout.JAVA_BYTE, i), "byte " + i + " of " + bytes);
            assertEquals(0, s.get(ValueLayout.JAVA_BYTE, bytes - 1));
            s.set(ValueLayout.JAVA_BYTE, 0, (byte) 7);
            s.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 9);
            assertEquals(7, s.get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(9, s.get(ValueLayout.JAVA_BYTE, bytes - 1));
        }
    }
}
