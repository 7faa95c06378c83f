package capmoe.routing;

/** Loads before and after the policy; filled in by the routing library. */
public record RoutingStats(int capacity, int[] loadBefore, int[] loadAfter) {
}
