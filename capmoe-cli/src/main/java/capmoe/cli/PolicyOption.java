package capmoe.cli;

import capmoe.routing.Policy;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * The shared {@code --policies SPEC,...} option. One rule for the baseline everywhere
 * ({@link Policy#withBaseline}): {@code none} is added first when missing, so every speedup and
 * "vs none" column has its reference. A command sets its own default list.
 */
final class PolicyOption {

    static final String DEMO = "none,score@1.0,order@1.0,reverse@1.0,random@1.0,score@1.5,score@2.0,expanded@1.5,"
            + "expanded_origin@1.5,expert_drop@0.1";
    static final String EVAL = "none,score@1.0,order@1.0,reverse@1.0,random@1.0,expanded@1.5,expert_drop@0.1";
    static final String EP_BENCH = "none,score@1.0,score@1.5,expanded@1.5,expanded_origin@1.5";
    static final String SIMULATE = "none,score@1.0,score@1.5,expanded@1.5";

    /** What --policies takes, for every command that has the option. */
    static final String SPECS = "capacity policies (none, score@G, order@G, reverse@G, random@G[:seed=N], expanded@G[:local=0-7], "
            + "expanded_origin@G[:m=N], device@G, expert_drop@R); none, the baseline, is added first when missing";

    @Option(names = "--policies", split = ",", paramLabel = "SPEC", description = SPECS + " (default: ${DEFAULT-VALUE})")
    List<String> specs;

    /** @param defaults the command's default list, comma separated (a command without a default declares its own option with {@link #SPECS}) */
    PolicyOption(String defaults) {
        if (defaults.isEmpty()) throw new IllegalArgumentException("PolicyOption needs a default list; help would show (default: [])");
        specs = new ArrayList<>(List.of(defaults.split(",")));
    }

    /** The parsed policies, none first. */
    List<Policy> policies() {
        return Policy.withBaseline(specs);
    }
}
