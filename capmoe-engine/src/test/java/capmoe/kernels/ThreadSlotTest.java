package capmoe.kernels;

import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ThreadSlotTest {
    @Test
    void reusesPerThreadAndNeverHandsOneObjectToTwoCalls() throws Exception {
        ThreadSlot<Object> slot = new ThreadSlot<>(Object::new);
        Object a = slot.take();
        Object nested = slot.take();                 // a call made while a is out gets its own
        assertNotSame(a, nested);
        slot.put(nested);
        slot.put(a);
        assertSame(a, slot.take());                  // the last one put back is the next one taken
        slot.put(a);

        AtomicReference<Object> other = new AtomicReference<>();
        Thread t = new Thread(() -> other.set(slot.take()));
        t.start();
        t.join();
        assertNotSame(a, other.get());               // another thread has its own slot
        assertSame(a, slot.take());
    }
}
