package capmoe.runtime.moe;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.routing.RoutingSample;
import capmoe.routing.Scorer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@link RouterStage#LOCAL} keeps a Router per layer and thread: every call still routes as a
 * fresh Router for that layer would (random draws start over each call), whatever was routed
 * before it, in any layer.
 */
class RouterStageTest {

    @Test
    void theKeptRouterRoutesEachCallAsAFreshOne() {
        int E = 16, k = 4;
        RouterConfig config = RouterConfig.softmax(E, k, false);
        Placement placement = Placement.contiguous(E, 1);
        Policy random = new Policy.TokenDrop(Scorer.RANDOM, 0.5, 9);
        int[] sizes = {200, 1, 33, 200};
        for (int i = 0; i < sizes.length; i++) {
            for (int layer : new int[] {0, 2}) {
                float[] logits = RoutingSample.skewed(sizes[i], E, 40 + i + layer).logits();
                Routing kept = RouterStage.LOCAL.route(layer, config, random, placement, logits, sizes[i], new int[sizes[i]], 1);
                Routing fresh = RouterStage.router(layer, config, random, placement).route(logits, sizes[i], null);
                String what = "call " + i + ", layer " + layer;
                assertArrayEquals(fresh.offsets(), kept.offsets(), what);
                assertArrayEquals(fresh.expertIds(), kept.expertIds(), what);
                assertArrayEquals(fresh.weights(), kept.weights(), what);
            }
        }
    }
}
