package capmoe.eval;

import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.DeviceExpertExecutor;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpMode;
import capmoe.runtime.ep.EpStats;

/**
 * Runs the experts of an evaluation through the expert-parallel runtime, so the report can give
 * each policy's measured EP time on exactly the evaluated workload (the runtime's accounting:
 * critical path of the slowest device + modelled all-to-all), not only the max-load bound.
 * The runtime is bit-identical to the local executor, so scores do not change.
 */
public record EpRuntime(Devices devices, EpMode mode, CommModel comm, int threadsPerDevice) {

    /** An executor for one (task, policy) evaluation and the stats it fills. */
    record Run(DeviceExpertExecutor executor, EpStats stats) implements AutoCloseable {
        @Override
        public void close() {
            executor.close();
        }
    }

    Run start() {
        EpStats stats = new EpStats(devices);
        return new Run(new DeviceExpertExecutor(devices, mode, comm, d -> EngineCores.share(threadsPerDevice), stats), stats);
    }
}
