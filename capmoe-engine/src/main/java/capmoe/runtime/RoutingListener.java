package capmoe.runtime;

import capmoe.routing.Routing;

/** Sees every MoE layer's routing: statistics, traces, reports. */
@FunctionalInterface
public interface RoutingListener {
    RoutingListener NONE = (layer, routing) -> { };

    void onRouting(int layer, Routing routing);
}
