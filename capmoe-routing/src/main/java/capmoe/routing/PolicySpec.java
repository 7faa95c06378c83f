package capmoe.routing;

/** Parsing and printing of policy spec strings. */
final class PolicySpec {
    private PolicySpec() { }

    static Policy parse(String spec) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    static String num(double v) {
        return v == Math.rint(v) ? String.format(java.util.Locale.ROOT, "%.1f", v) : Double.toString(v);
    }
}
