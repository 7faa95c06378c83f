package capmoe.runtime.ep;

import capmoe.routing.Routing;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * The expert-parallel MoE layer: dispatch (all-to-all) -> per-device expert compute -> combine.
 * Each device owns the experts of its {@link Devices} entry and runs on its own worker with its
 * own {@link CoreShare}. Devices run concurrently behind a barrier ({@link EpMode#PARALLEL}) or
 * one after another, each timed alone ({@link EpMode#TIMED_SERIAL}); see {@link LayerTiming}.
 *
 * <p>Bit-identical to the engine's {@code LocalExpertExecutor}: an expert sees exactly the rows
 * the local executor gives it (its tokens, ascending), and combine adds {@code w * y} into
 * out[t] expert by expert in ascending expert id, tokens ascending, the local executor's order.
 * Only where the experts run and who waits for whom differs.
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
        int e = experts.count();
        int tokens = routing.tokens();
        int[] offsets = routing.offsets();
        int[] ids = routing.expertIds();
        float[] weights = routing.weights();

        // dispatch: pairs grouped by expert, tokens ascending inside a group (the local executor's grouping)
        int[] start = new int[e + 1];
        for (int p = 0; p < offsets[tokens]; p++) start[ids[p] + 1]++;
        for (int i = 0; i < e; i++) start[i + 1] += start[i];
        int pairs = start[e];
        int[] token = new int[pairs];
        float[] weight = new float[pairs];
        int[] fill = start.clone();
        for (int t = 0; t < tokens; t++) {
            for (int p = offsets[t]; p < offsets[t + 1]; p++) {
                int slot = fill[ids[p]]++;
                token[slot] = t;
                weight[slot] = weights[p];
            }
        }
        float[] y = new float[pairs * h]; // expert outputs in slot order: the combine's receive buffer

        int d = devices.count();
        long[] nanos = new long[d];
        int[] devicePairs = new int[d];
        for (int dev = 0; dev < d; dev++) for (int ex : devices.expertsOf()[dev]) devicePairs[dev] += start[ex + 1] - start[ex];
        long wall;
        if (mode == EpMode.PARALLEL) {
            long t0 = System.nanoTime();
            List<Future<?>> done = new ArrayList<>(d);
            for (int dev = 0; dev < d; dev++) {
                int device = dev;
                done.add(workers.submit(() -> nanos[device] = compute(device, experts, x, start, token, y)));
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
                nanos[dev] = compute(dev, experts, x, start, token, y);
                wall += nanos[dev];
            }
        }

        // combine, in the local executor's order: experts ascending, tokens ascending
        for (int i = 0; i < e; i++) {
            for (int s = start[i]; s < start[i + 1]; s++) {
                float w = weight[s];
                int o = token[s] * h;
                int yo = s * h;
                for (int c = 0; c < h; c++) out[o + c] += w * y[yo + c];
            }
        }

        CommModel.Traffic traffic = comm.dispatch(devices, tokens, offsets, ids, h);
        observer.onLayer(routing, new LayerTiming(layer, mode, tokens, nanos, wall, devicePairs, traffic.total(),
                comm.seconds(traffic)));
    }

    /** One device: gathers its experts' rows and runs each expert; returns its time in ns. */
    private long compute(int device, Experts experts, float[] x, int[] start, int[] token, float[] y) {
        long[] elapsed = new long[1];
        cores[device].run(() -> {
            long t0 = System.nanoTime();
            int h = experts.hidden();
            int maxRows = 0;
            for (int ex : devices.expertsOf()[device]) maxRows = Math.max(maxRows, start[ex + 1] - start[ex]);
            float[] in = new float[maxRows * h];
            float[] out = new float[maxRows * h];
            for (int ex : devices.expertsOf()[device]) {
                int rows = start[ex + 1] - start[ex];
                if (rows == 0) continue;
                for (int r = 0; r < rows; r++) System.arraycopy(x, token[start[ex] + r] * h, in, r * h, h);
                experts.apply(ex, in, out, rows);
                System.arraycopy(out, 0, y, start[ex] * h, rows * h);
            }
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
