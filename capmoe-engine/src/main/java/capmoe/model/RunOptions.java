package capmoe.model;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.RoutingListener;

/**
 * How to run the MoE layers: which capacity policy, which expert placement, who executes the
 * experts (local grouped matmul, or the expert-parallel runtime), and who watches the routing.
 */
public record RunOptions(Policy policy, Placement placement, ExpertExecutor executor, RoutingListener listener) {
}
