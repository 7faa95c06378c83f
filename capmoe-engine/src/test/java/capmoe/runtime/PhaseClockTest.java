package capmoe.runtime;

import capmoe.runtime.PhaseClock.Phase;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The phase clock: laps go to the named phase, the phases add up to the section's wall time, and a lap with no clock bound does nothing. */
class PhaseClockTest {

    private static void busy(long nanos) {
        long end = System.nanoTime() + nanos;
        while (System.nanoTime() < end) Thread.onSpinWait();
    }

    @Test
    void lapsSplitTheSectionsWallTimeIntoItsPhases() {
        PhaseClock clock = new PhaseClock();
        PhaseClock.lap(Phase.ROUTER);                           // nothing bound: no effect
        long t0 = System.nanoTime();
        clock.time(() -> {
            busy(2_000_000);
            PhaseClock.lap(Phase.ATTENTION);
            busy(6_000_000);
            PhaseClock.lap(Phase.EXPERTS);
            busy(1_000_000);                                    // after the last lap: OTHER
        });
        long wall = System.nanoTime() - t0;
        assertEquals(3, clock.laps());
        // every busy wait is inside the section; the section sits inside the caller's wall time (set-up outside it, e.g. a first ScopedValue binding, is not counted)
        assertTrue(clock.total() <= wall && clock.total() >= 9_000_000, clock.total() + " of " + wall);
        assertTrue(clock.nanos(Phase.ATTENTION) >= 2_000_000, clock.toString());
        assertTrue(clock.nanos(Phase.EXPERTS) >= 6_000_000, clock.toString());
        assertTrue(clock.nanos(Phase.OTHER) >= 1_000_000, clock.toString());
        assertEquals(0, clock.nanos(Phase.ROUTER), "a lap outside time() is not counted");
        assertEquals(1.0, java.util.Arrays.stream(clock.fractions()).sum(), 1e-12);
        // (no bound from above per phase: on a loaded machine the thread can lose its core between a wait and its lap)
        PhaseClock.lap(Phase.ROUTER);
        assertEquals(3, clock.laps(), "unbound again after time()");
    }
}
