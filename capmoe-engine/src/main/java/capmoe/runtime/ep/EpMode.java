package capmoe.runtime.ep;

/**
 * How the expert-parallel runtime executes the devices of one MoE layer. Every output names the
 * mode, because the two measure different things.
 */
public enum EpMode {
    /**
     * Devices run concurrently, one worker each with its own share of the cores, and meet at a
     * barrier after every layer; the layer's compute time is the measured wall time. Honest only
     * when the machine has at least one core per device.
     */
    PARALLEL("parallel"),

    /**
     * Devices run one after another, each timed alone with the same cores; the layer's compute
     * time is the slowest device (the critical path a real EP deployment would wait for). For
     * machines with fewer cores than devices.
     */
    TIMED_SERIAL("timed-serial");

    private final String id;

    EpMode(String id) { this.id = id; }

    public String id() { return id; }

    public static EpMode parse(String s) {
        for (EpMode m : values()) if (m.id.equals(s == null ? null : s.strip())) return m;
        throw new IllegalArgumentException("unknown EP mode '" + s + "'; expected parallel or timed-serial");
    }
}
