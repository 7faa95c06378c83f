package capmoe.kernels;

import org.junit.jupiter.api.Test;

import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link NativeKernels}' failure paths and its heap-segment cache: a function the library lacks is
 * a handle that throws one line naming the function and how to rebuild (not a linkage error at
 * class load), {@link NativeKernels#require} passes when the library is there, and
 * {@link NativeKernels#heap} gives the same segment for the same array while it stays cached.
 */
class NativeKernelsTest {

    @Test
    void aMissingFunctionThrowsOneLineNamingItWhenCalled() {
        assertTrue(NativeKernels.available(), "the native kernels did not load: " + NativeKernels.missing());
        assertNull(NativeKernels.missing());
        NativeKernels.require("this test");
        MethodHandle h = NativeKernels.function("capmoe_no_such_kernel", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> { int ignored = (int) h.invokeExact(1); });
        assertEquals("capmoe_no_such_kernel: " + NativeKernels.LIBRARY + " has no function capmoe_no_such_kernel"
                + " (rebuild: ./mvnw -pl capmoe-engine -am package -DskipTests)", e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void heapSegmentsAreReusedPerArray() {
        float[] a = new float[8], b = new float[8];
        byte[] c = new byte[8];
        assertSame(NativeKernels.heap(a), NativeKernels.heap(a));
        assertSame(NativeKernels.heap(c), NativeKernels.heap(c));
        assertTrue(NativeKernels.heap(a) != NativeKernels.heap(b));
        assertEquals(32, NativeKernels.heap(a).byteSize());
        for (int i = 0; i < 40; i++) NativeKernels.heap(new float[1]);   // pushes a out of the cache: a new segment, over a still
        assertEquals(32, NativeKernels.heap(a).byteSize());
        assertTrue(NativeKernels.heap(a).heapBase().orElseThrow() == a);
    }
}
