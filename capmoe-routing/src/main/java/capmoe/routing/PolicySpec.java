package capmoe.routing;

import java.util.Locale;

/** Parsing and printing of policy spec strings; the grammar is documented on {@link Policy}. */
final class PolicySpec {
    private PolicySpec() { }

    static final String GRAMMAR = "none, score@G, order@G, reverse@G, random@G[:seed=N], "
            + "score@auto:mass=M, score@layers:FILE, (Token Drop options: :min_capacity=N), "
            + "expanded@G[:local=0-7|0,3,5], expanded_origin@G[:m=N], device@G, expert_drop@R, replicate@N[+POLICY]";

    static Policy parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("empty policy spec; expected one of: " + GRAMMAR);
        }
        String s = spec.strip();
        int plus = s.indexOf('+');
        if (plus >= 0 || s.toLowerCase(Locale.ROOT).startsWith("replicate")) return parseReplicated(spec, s, plus);
        return parseSingle(spec, s);
    }

    /** {@code replicate@N}, {@code replicate@N+POLICY} or {@code POLICY+replicate@N}. */
    private static Policy parseReplicated(String spec, String s, int plus) {
        String a = plus < 0 ? s : s.substring(0, plus).strip();
        String b = plus < 0 ? null : s.substring(plus + 1).strip();
        if (b != null && b.indexOf('+') >= 0) throw bad(spec, "at most two parts joined by '+': replicate@N+POLICY");
        boolean aRep = a.toLowerCase(Locale.ROOT).startsWith("replicate");
        boolean bRep = b != null && b.toLowerCase(Locale.ROOT).startsWith("replicate");
        if (aRep == bRep) throw bad(spec, "'+' joins replicate@N with one capacity policy, e.g. replicate@8+score@1.5");
        String rep = aRep ? a : b;
        String other = aRep ? b : a;
        if (!rep.toLowerCase(Locale.ROOT).startsWith("replicate@")) throw bad(spec, "'replicate' needs a replica count: replicate@8");
        int n;
        try {
            n = Integer.parseInt(rep.substring("replicate@".length()).strip());
        } catch (NumberFormatException e) {
            throw bad(spec, "'" + rep.substring("replicate@".length()) + "' is not a whole number of redundant replicas");
        }
        Policy inner = other == null ? new Policy.None() : parseSingle(spec, other);
        try {
            return new Policy.Replicated(n, inner);
        } catch (IllegalArgumentException e) {
            throw bad(spec, e.getMessage());
        }
    }

    private static Policy parseSingle(String spec, String s) {
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
            case "score", "probs" -> Scorer.SCORE;
            case "order", "first", "position" -> Scorer.ORDER;
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
        if (scorer != null && (arg.equals("auto") || arg.equals("layers"))) return parseAdaptive(spec, s, name, scorer, arg, parts);
        double value;
        try {
            value = Double.parseDouble(arg);
        } catch (NumberFormatException e) {
            throw bad(spec, "'" + arg + "' is not a number");
        }

        long seed = 0;
        int minCapacity = 0;
        int m = Policy.ExpandedOrigin.DEFAULT_M;
        int[] local = null;
        for (int i = 1; i < parts.length; i++) {
            String opt = parts[i];
            int eq = opt.indexOf('=');
            String key = eq < 0 ? opt : opt.substring(0, eq);
            String val = eq < 0 ? "" : opt.substring(eq + 1);
            if (key.equals("seed") && scorer == Scorer.RANDOM) {
                seed = parseLong(spec, key, val);
            } else if (key.equals("min_capacity") && scorer != null) {
                minCapacity = parseMinCapacity(spec, val);
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
            if (scorer != null) return new Policy.TokenDrop(scorer, new Gamma.Fixed(value), seed, minCapacity);
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

    /** {@code score@auto:mass=M[:min_capacity=N]} and {@code score@layers:FILE} (the rest of the spec is the file). */
    private static Policy parseAdaptive(String spec, String s, String name, Scorer scorer, String arg, String[] parts) {
        try {
            if (arg.equals("layers")) {
                String file = s.substring(s.indexOf(':') + 1).strip();
                if (parts.length < 2 || file.isEmpty()) throw bad(spec, "'" + name + "@layers' needs a file: " + name + "@layers:FILE");
                return new Policy.TokenDrop(scorer, Gamma.PerLayer.read(java.nio.file.Path.of(file)), 0L, 0);
            }
            Double mass = null;
            int minCapacity = 0;
            for (int i = 1; i < parts.length; i++) {
                String opt = parts[i];
                int eq = opt.indexOf('=');
                String key = eq < 0 ? opt : opt.substring(0, eq);
                String val = eq < 0 ? "" : opt.substring(eq + 1);
                if (key.equals("mass")) {
                    try {
                        mass = Double.parseDouble(val.strip());
                    } catch (NumberFormatException e) {
                        throw bad(spec, "mass= needs a number (got '" + val + "')");
                    }
                } else if (key.equals("min_capacity")) {
                    minCapacity = parseMinCapacity(spec, val);
                } else {
                    throw bad(spec, "option '" + opt + "' does not apply to '" + name + "@auto'");
                }
            }
            if (mass == null) throw bad(spec, "'" + name + "@auto' needs the dropped score mass budget: " + name + "@auto:mass=0.02");
            return new Policy.TokenDrop(scorer, new Gamma.Auto(mass), 0L, minCapacity);
        } catch (IllegalArgumentException e) {
            if (e.getMessage().startsWith("bad policy")) throw e;
            throw bad(spec, e.getMessage());
        }
    }

    private static int parseMinCapacity(String spec, String val) {
        long v = parseLong(spec, "min_capacity", val);
        if (v < 0 || v > Integer.MAX_VALUE) throw bad(spec, "min_capacity must be >= 0 (got " + val + ")");
        return (int) v;
    }

    /** gamma must be a positive number (Infinity allowed: no capacity at all). */
    static void checkGamma(double gamma, String policy) {
        if (!(gamma > 0)) {
            throw new IllegalArgumentException(policy + ": capacity factor gamma must be > 0 (got " + gamma + ")");
        }
    }

    /**
     * C = ceil(gamma * k * (T / E)) in double, in that order (the official code's), raised to
     * {@code minCapacity} (DeepSpeed's {@code _capacity}, deepspeed/moe/sharded_moe.py L162-171 at
     * 0c691a52) and clamped to T: an expert receives each token at most once, so a larger C changes
     * nothing but must not overflow (DeepSpeed's top1gating bounds its selection the same way,
     * {@code selection_capacity = min(capacity, T)}, L248-250).
     */
    static int capacity(double gamma, int minCapacity, int topK, int tokens, int experts) {
        double c = Math.ceil(gamma * topK * ((double) tokens / experts));
        int cap = c >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) c;
        return Math.min(Math.max(cap, minCapacity), tokens);
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
