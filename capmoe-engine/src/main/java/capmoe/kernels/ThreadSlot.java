package capmoe.kernels;

import java.util.function.Supplier;

/**
 * One reusable object per calling thread, taken out of the slot while a call uses it: e.g. a phase
 * body and its arguments, which a decode step then reuses instead of allocating a lambda per call.
 * A nested call on the same thread (one made from inside the phase) finds the slot empty and gets
 * a fresh object, so two calls never share one.
 *
 * <pre>{@code
 * Body b = SLOT.take();
 * try { ... } finally { b.clear(); SLOT.put(b); }
 * }</pre>
 */
public final class ThreadSlot<T> {
    private final ThreadLocal<Object[]> slot = ThreadLocal.withInitial(() -> new Object[1]);
    private final Supplier<T> factory;

    /** @param factory makes an object when this thread's slot is empty */
    public ThreadSlot(Supplier<T> factory) {
        this.factory = factory;
    }

    /** This thread's object, now out of the slot (a new one when the slot is empty). */
    @SuppressWarnings("unchecked")
    public T take() {
        Object[] s = slot.get();
        T t = (T) s[0];
        s[0] = null;
        return t != null ? t : factory.get();
    }

    /** Puts {@code t} back as this thread's object, for its next {@link #take}. */
    public void put(T t) {
        slot.get()[0] = t;
    }
}
