package capmoe.routing;

import java.util.Locale;

/** Parsing and printing of policy spec strings; the grammar is documented on {@link Policy}. */
final class PolicySpec {
    private PolicySpec() { }

    static final String GRAMMAR = "none, score@G, order@G, reverse@G, random@G[:seed=N], "
            + "expanded@G[:local=0-7|0,3,5], expanded_origin@G[:m=N], device@G, expert_drop@R";

    static Policy parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("empty policy spec; expected one of: " + GRAMMAR);
        }
        String s = spec.strip();
        String[] parts = s.split(":", -1);
        String head = parts[0];
        int at = head.indexOf('@');
        String name = (at < 0 ? head : head.substring(0, at)).toLowerCase(Locale.ROOT);
        String arg = at < 0 ? null : head.substring(at + 1);

        if (name.equals("none")) {
            if (arg != null || parts.length > 1) throw bad(spec, "'none' takes no gamma or options");
            return new Policy.None();
        }
        Scorer scorer = switch (name) {
            case "score" -> Scorer.SCORE;
            case "order", "first" -> Scorer.ORDER;
            case "reverse", "last" -> Scorer.REVERSE;
            case "random" -> Scorer.RANDOM;
            default -> null;
        };
        boolean known = scorer != null || switch (name) {
            case "expanded", "overselect", "expanded_origin", "device", "expert_drop" -> true;
            default -> false;
        };
        if (!known) throw bad(spec, "unknown strategy '" + name + "'");
        if (arg == null || arg.isEmpty()) {
            String what = name.equals("expert_drop") ? "a drop ratio rho: expert_drop@0.1" : "a capacity factor gamma: " + name + "@1.5";
            throw bad(spec, "'" + name + "' needs " + what);
        }
        double value;
        try {
            value = Double.parseDouble(arg);
        } catch (NumberFormatException e) {
            throw bad(spec, "'" + arg + "' is not a number");
        }

        long seed = 0;
        int m = Policy.ExpandedOrigin.DEFAULT_M;
        int[] local = null;
        for (int i = 1; i < parts.length; i++) {
            String opt = parts[i];
            int eq = opt.indexOf('=');
            String key = eq < 0 ? opt : opt.substring(0, eq);
            String val = eq < 0 ? "" : opt.substring(eq + 1);
            if (key.equals("seed") && scorer == Scorer.RANDOM) {
                seed = parseLong(spec, key, val);
            } else if (key.equals("m") && name.equals("expanded_origin")) {
                long v = parseLong(spec, key, val);
                if (v < 0 || v > Integer.MAX_VALUE) throw bad(spec, "m must be >= 0 (got " + val + ")");
                m = (int) v;
            } else if (key.equals("local") && (name.equals("expanded") || name.equals("overselect"))) {
                local = parseIdList(spec, val);
            } else {
                throw bad(spec, "option '" + opt + "' does not apply to '" + name + "'");
            }
        }
        try {
            if (scorer != null) return new Policy.TokenDrop(scorer, value, seed);
            return switch (name) {
                case "expanded", "overselect" -> new Policy.ExpandedDrop(value, local);
                case "expanded_origin" -> new Policy.ExpandedOrigin(value, m);
                case "device" -> new Policy.DeviceCapacity(value);
                case "expert_drop" -> new Policy.ExpertDrop(value);
                default -> throw new AssertionError(name);
            };
        } catch (IllegalArgumentException e) {
            throw bad(spec, e.getMessage());
        }
    }

    /** gamma must be a positive number (Infinity allowed: no capacity at all). */
    static void checkGamma(double gamma, String policy) {
        if (!(gamma > 0)) {
            throw new IllegalArgumentException(policy + ": capacity factor gamma must be > 0 (got " + gamma + ")");
        }
    }

    /** C = ceil(gamma * k * (T / E)) in double, in that order (the official code's); clamped to int. */
    static int capacity(double gamma, int topK, int tokens, int experts) {
        double c = Math.ceil(gamma * topK * ((double) tokens / experts));
        return c >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) c;
    }

    static String num(double v) {
        return v == Math.rint(v) ? String.format(Locale.ROOT, "%.1f", v) : Double.toString(v);
    }

    /** "0-3,8,10-11": runs of consecutive ids as ranges, in the list's order. */
    static String idList(int[] ids) {
        StringBuilder sb = new StringBuilder();
        int i = 0;
        while (i < ids.length) {
            int j = i;
            while (j + 1 < ids.length && ids[j + 1] == ids[j] + 1) j++;
            if (sb.length() > 0) sb.append(',');
            sb.append(ids[i]);
            if (j > i) sb.append('-').append(ids[j]);
            i = j + 1;
        }
        return sb.toString();
    }

    static int[] parseIdList(String spec, String list) {
        if (list.isEmpty()) throw bad(spec, "local= needs expert ids, e.g. local=0-7 or local=0,3,5");
        int[] out = new int[8];
        int n = 0;
        for (String item : list.split(",", -1)) {
            int dash = item.indexOf('-', 1);
            int from = parseId(spec, dash < 0 ? item : item.substring(0, dash));
            int to = dash < 0 ? from : parseId(spec, item.substring(dash + 1));
            if (to < from) throw bad(spec, "range '" + item + "' is empty");
            for (long id = from; id <= to; id++) {
                if (n == out.length) out = java.util.Arrays.copyOf(out, n * 2);
                out[n++] = (int) id;
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    private static int parseId(String spec, String s) {
        try {
            int v = Integer.parseInt(s.strip());
            if (v < 0) throw bad(spec, "expert id " + v + " is negative");
            return v;
        } catch (NumberFormatException e) {
            throw bad(spec, "'" + s + "' is not an expert id");
        }
    }

    private static long parseLong(String spec, String key, String val) {
        try {
            return Long.parseLong(val.strip());
        } catch (NumberFormatException e) {
            throw bad(spec, key + "= needs an integer (got '" + val + "')");
        }
    }

    private static IllegalArgumentException bad(String spec, String why) {
        return new IllegalArgumentException("bad policy '" + spec + "': " + why + " (expected one of: " + GRAMMAR + ")");
    }
}
