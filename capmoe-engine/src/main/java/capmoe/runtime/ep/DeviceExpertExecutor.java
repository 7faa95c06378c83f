package capmoe.runtime.ep;

import capmoe.routing.Placement;
import capmoe.routing.Routing;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;
import capmoe.runtime.moe.Combine;
import capmoe.runtime.moe.Dispatch;
import capmoe.runtime.moe.ExpertStage;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
 *
 * <p>Replication: with a replicated placement for a layer ({@code layerPlacements}, EPLB), a
 * device runs, of every expert it holds a replica of, the pairs {@link Placement#device(int, int)}
 * sends to it ({@link ExpertStage#runReplicas}); the outputs stay bit-identical.
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
    private final Map<Integer, Placement> layerPlacements;
    private final Map<Placement, Devices> layouts = new ConcurrentHashMap<>();

    /**
     * @param coresOf the core share of device d (e.g. the engine's pool of cores/D threads)
     */
    public DeviceExpertExecutor(Devices devices, EpMode mode, CommModel comm, IntFunction<CoreShare> coresOf, Observer observer) {
        this(devices, mode, comm, coresOf, observer, null);
    }

    /**
     * @param layerPlacements placement of each layer that has its own (replication: EPLB per
     *                        layer, over the same devices); other layers use {@code devices}
     */
    public DeviceExpertExecutor(Devices devices, EpMode mode, CommModel comm, IntFunction<CoreShare> coresOf, Observer observer,
                                Map<Integer, Placement> layerPlacements) {
        this.layerPlacements = layerPlacements == null ? Map.of() : Map.copyOf(layerPlacements);
        for (Map.Entry<Integer, Placement> p : this.layerPlacements.entrySet()) {
            if (p.getValue().devices() != devices.count() || p.getValue().experts() != devices.experts()) {
                throw new IllegalArgumentException("layer " + p.getKey() + "'s placement has " + p.getValue().devices() + " devices and "
                        + p.getValue().experts() + " experts, the executor " + devices.count() + " and " + devices.experts());
            }
        }
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

    /** The placement the executor uses for a layer. */
    public Placement placementOf(int layer) { return layerPlacements.getOrDefault(layer, devices.placement()); }

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        run(layer, experts, x, routing, placementOf(layer), out);
    }

    /** One layer call over an explicit placement (the replay passes the placement a call was recorded with). */
    public void run(int layer, Experts experts, float[] x, Routing routing, Placement placement, float[] out) {
        if (placement.devices() != devices.count()) {
            throw new IllegalArgumentException("layer " + layer + "'s placement has " + placement.devices() + " devices, the executor " + devices.count());
        }
        Devices devices = layouts.computeIfAbsent(placement, p -> p.equals(this.devices.placement()) ? this.devices : Devices.of(p));
        if (experts.count() != devices.experts()) {
            throw new IllegalArgumentException("layer " + layer + " has " + experts.count() + " experts but the placement covers "
                    + devices.experts());
        }
        int h = experts.hidden();
        int tokens = routing.tokens();
        Dispatch dispatch = Dispatch.sort(routing, experts.count(), null, experts.combineByWeight());
        float[] y = new float[dispatch.pairs() * h]; // [P x h] expert outputs in slot order: the combine's receive buffer

        int d = devices.count();
        long[] nanos = new long[d];
        int[] devicePairs = new int[d];
        int[][] share = placement.replicated() ? replicaLists(placement) : devices.expertsOf();
        if (placement.replicated()) {
            for (int ex = 0; ex < experts.count(); ex++) {
                for (int s = dispatch.start(ex); s < dispatch.start(ex) + dispatch.rows(ex); s++) devicePairs[placement.device(dispatch.token(s), ex)]++;
            }
        } else {
            for (int dev = 0; dev < d; dev++) for (int ex : devices.expertsOf()[dev]) devicePairs[dev] += dispatch.rows(ex);
        }
        long wall;
        if (mode == EpMode.PARALLEL) {
            long t0 = System.nanoTime();
            List<Future<?>> done = new ArrayList<>(d);
            for (int dev = 0; dev < d; dev++) {
                int device = dev;
                done.add(workers.submit(() -> nanos[device] = compute(device, experts, x, dispatch, y, placement, share)));
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
                nanos[dev] = compute(dev, experts, x, dispatch, y, placement, share);
                wall += nanos[dev];
            }
        }

        Combine.all(dispatch, y, out, h);

        CommModel.Traffic traffic = comm.dispatch(devices, tokens, routing.offsets(), routing.expertIds(), h);
        observer.onLayer(routing, new LayerTiming(layer, mode, tokens, nanos, wall, devicePairs, traffic.total(),
                comm.seconds(traffic)));
    }

    /** Experts with a replica on each device, ascending, each once. */
    private static int[][] replicaLists(Placement placement) {
        int[][] out = new int[placement.devices()][];
        int[][] replicas = placement.replicaDevices();
        for (int d = 0; d < out.length; d++) {
            int[] list = new int[placement.experts()];
            int n = 0;
            for (int e = 0; e < replicas.length; e++) {
                for (int r : replicas[e]) {
                    if (r == d) {
                        list[n++] = e;
                        break;
                    }
                }
            }
            out[d] = java.util.Arrays.copyOf(list, n);
        }
        return out;
    }

    /** One device: the Experts stage over its experts (its replicas' share), outputs into y at their slots; returns its time in ns. */
    private long compute(int device, Experts experts, float[] x, Dispatch dispatch, float[] y, Placement placement, int[][] share) {
        long[] elapsed = new long[1];
        cores[device].run(() -> {
            long t0 = System.nanoTime();
            if (placement.replicated()) ExpertStage.runReplicas(experts, dispatch, placement, device, share[device], x, y);
            else ExpertStage.run(experts, dispatch, share[device], x, y);
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
