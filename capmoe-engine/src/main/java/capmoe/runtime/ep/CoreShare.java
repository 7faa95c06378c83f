package capmoe.runtime.ep;

/**
 * Runs one device's work on that device's own share of the cores. The engine's kernels take
 * their thread pool from the caller's context, so a device binds its pool around its work.
 */
public interface CoreShare extends AutoCloseable {

    /** Runs {@code work} on this share's cores, on the calling thread. */
    void run(Runnable work);

    @Override
    default void close() { }

    /** No pool of its own: kernels use whatever the calling thread would use. */
    static CoreShare unbound() {
        return Runnable::run;
    }
}
