package capmoe.runtime.ep;

import capmoe.routing.Routing;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;
import capmoe.runtime.moe.Combine;
import capmoe.runtime.moe.Dispatch;
import capmoe.runtime.moe.ExpertStage;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * The expert-parallel MoE layer over in-JVM devices, the {@link capmoe.runtime.moe} pipeline:
 * {@link Dispatch} (the all-to-all's grouping) -> per-device {@link ExpertStage} -> {@link Combine}.
 * Each device owns the experts of its {@link Devices} entry and runs on its own worker with its
 * own {@link CoreShare}. Devices run concurrently behind a barrier ({@link EpMode#PARALLEL}) or
 * one after another, each timed alone ({@link EpMode#TIMED_SERIAL}); see {@link LayerTiming}.
 *
 * <p>Bit-identical to the engine's {@code LocalExpertExecutor}: the same stages in the same
 * order; only where the experts run and who waits for whom differs.
 */
public final class DeviceExpertExecutor implements ExpertExecutor, AutoCloseable {

    /** Receives each layer call's routing and cost. */
    @FunctionalInterface
    public interface Observer {
        Observer NONE = (routing, timing) -> { };

        void onLayer(Routing routing, LayerTiming timing);
    }

    private final Devices devices;
    private final EpMode mode;
    private final CommModel comm;
    private final Observer observer;
    private final CoreShare[] cores;
    private final ExecutorService workers; // PARALLEL only: one thread per device

    /**
     * @param coresOf the core share of device d (e.g. the engine's pool of cores/D threads)
     */
    public DeviceExpertExecutor(Devices devices, EpMode mode, CommModel comm, IntFunction<CoreShare> coresOf, Observer observer) {
        this.devices = devices;
        this.mode = mode;
        this.comm = comm;
        this.observer = observer == null ? Observer.NONE : observer;
        this.cores = new CoreShare[devices.count()];
        for (int d = 0; d < cores.length; d++) cores[d] = coresOf.apply(d);
        this.workers = mode == EpMode.PARALLEL
                ? Executors.newFixedThreadPool(devices.count(), r -> {
                    Thread t = new Thread(r, "ep-device");
                    t.setDaemon(true);
                    return t;
                })
                : null;
    }

    public Devices devices() { return devices; }

    public EpMode mode() { return mode; }

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        if (experts.count() != devices.experts()) {
            throw new IllegalArgumentException("layer " + layer + " has " + experts.count() + " experts but the placement covers "
                    + devices.experts());
        }
        int h = experts.hidden();
        int tokens = routing.tokens();
        Dispatch dispatch = Dispatch.sort(routing, experts.count());
        float[] y = new float[dispatch.pairs() * h]; // [P x h] expert outputs in slot order: the combine's receive buffer

        int d = devices.count();
        long[] nanos = new long[d];
        int[] devicePairs = new int[d];
        for (int dev = 0; dev < d; dev++) for (int ex : devices.expertsOf()[dev]) devicePairs[dev] += dispatch.rows(ex);
        long wall;
        if (mode == EpMode.PARALLEL) {
            long t0 = System.nanoTime();
            List<Future<?>> done = new ArrayList<>(d);
            for (int dev = 0; dev < d; dev++) {
                int device = dev;
                done.add(workers.submit(() -> nanos[device] = compute(device, experts, x, dispatch, y)));
            }
            for (Future<?> f : done) {
                try {
                    f.get();
                } catch (ExecutionException ex) {
                    if (ex.getCause() instanceof RuntimeException re) throw re;
                    throw new IllegalStateException("device worker failed", ex.getCause());
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for the devices", ex);
                }
            }
            wall = System.nanoTime() - t0;
        } else {
            wall = 0;
            for (int dev = 0; dev < d; dev++) {
                nanos[dev] = compute(dev, experts, x, dispatch, y);
                wall += nanos[dev];
            }
        }

        Combine.all(dispatch, y, out, h);

        CommModel.Traffic traffic = comm.dispatch(devices, tokens, routing.offsets(), routing.expertIds(), h);
        observer.onLayer(routing, new LayerTiming(layer, mode, tokens, nanos, wall, devicePairs, traffic.total(),
                comm.seconds(traffic)));
    }

    /** One device: the Experts stage over its experts, outputs into y at their slots; returns its time in ns. */
    private long compute(int device, Experts experts, float[] x, Dispatch dispatch, float[] y) {
        long[] elapsed = new long[1];
        cores[device].run(() -> {
            long t0 = System.nanoTime();
            ExpertStage.run(experts, dispatch, devices.expertsOf()[device], x, y);
            elapsed[0] = System.nanoTime() - t0;
        });
        return elapsed[0];
    }

    @Override
    public void close() {
        if (workers != null) workers.shutdownNow();
        for (CoreShare c : cores) c.close();
    }
}
