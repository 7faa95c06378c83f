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

    @Option(names = "--policies", split = ",", paramLabel = "SPEC",
            description = "capacity policies (none, score@G, order@G, reverse@G, random@G[:seed=N], expanded@G[:local=0-7], "
                    + "expanded_origin@G[:m=N], device@G, expert_drop@R); none, the baseline, is added first when missing "
                    + "(default: ${DEFAULT-VALUE})")
    List<String> specs;

    PolicyOption() {
        this("");
    }

    /** @param defaults the command's default list, comma separated */
    PolicyOption(String defaults) {
        specs = new ArrayList<>(defaults.isEmpty() ? List.of() : List.of(defaults.split(",")));
    }

    /** The parsed policies, none first. */
    List<Policy> policies() {
        return Policy.withBaseline(specs);
    }
}
