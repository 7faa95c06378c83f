package capmoe.cli;

import picocli.CommandLine.Option;

/**
 * The shared {@code --devices D} option: experts are spread over D devices. One rule everywhere:
 * D must be in 1..E for a model of E experts (a device without experts is an error, not clamped).
 */
final class DeviceOption {

    @Option(names = "--devices", paramLabel = "D", description = "devices, experts placed in contiguous blocks (default: ${DEFAULT-VALUE})")
    int devices = 8;

    /** D, checked against the model's experts. */
    int check(int experts) {
        if (devices < 1 || devices > experts) {
            throw new IllegalArgumentException("--devices must be in 1.." + experts + " for " + experts + " experts (got " + devices + ")");
        }
        return devices;
    }
}
