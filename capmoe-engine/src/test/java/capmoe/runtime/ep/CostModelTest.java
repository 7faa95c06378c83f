package capmoe.runtime.ep;

import capmoe.runtime.sim.CostModel;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The a + b*rows model: exact on exact data, a device pays for each active expert. */
class CostModelTest {

    @Test
    void fitRecoversAnExactLine() {
        List<CostModel.Point> pts = List.of(new CostModel.Point(1, 3e-6 + 1e-7), new CostModel.Point(64, 3e-6 + 64e-7),
                new CostModel.Point(256, 3e-6 + 256e-7));
        CostModel m = CostModel.fit(pts);
        assertEquals(3e-6, m.a(), 1e-12);
        assertEquals(1e-7, m.b(), 1e-13);
    }

    @Test
    void deviceTimeSumsItsActiveExperts() {
        CostModel m = new CostModel(2, 1);
        int[] rows = {5, 0, 3, 7};
        assertEquals((2 + 5) + (2 + 3), m.deviceSeconds(rows, new int[]{0, 1, 2}), 0, "an idle expert costs nothing");
        assertEquals(0, m.expertSeconds(0));
    }

    @Test
    void calibrationOnARealExpertGrowsWithRows() {
        PlainSwiGluExperts experts = new PlainSwiGluExperts(2, 32, 64, 3);
        CostModel.Calibration c = CostModel.calibrate(experts, new int[]{1, 16, 64}, 3);
        assertEquals(3, c.points().size());
        assertTrue(c.model().b() > 0);
        assertTrue(c.points().get(2).seconds() > c.points().get(0).seconds(), "64 rows take longer than 1: " + c.points());
    }

    @Test
    void badInputIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> new CostModel(-1, 1));
        assertThrows(IllegalArgumentException.class, () -> new CostModel(0, 0));
        assertThrows(IllegalArgumentException.class, () -> CostModel.calibrate(new PlainSwiGluExperts(1, 4, 4, 1), new int[]{4}, 1));
    }

    @Test
    void calibrationReportsItsSpreadAndNonMonotonicMedians() {
        var good = new CostModel.Calibration(new CostModel(1e-6, 1e-7), List.of(new CostModel.Point(1, 1.1e-6), new CostModel.Point(10, 2.0e-6)));
        assertEquals(0.0, good.maxRelativeError(), 1e-12, "1 + 0.1 us and 1 + 1 us: the fit is exact");
        assertFalse(good.nonMonotonic());
        var noisy = new CostModel.Calibration(new CostModel(1e-6, 1e-7),
                List.of(new CostModel.Point(1, 2.2e-6, 1e-6, 3e-6), new CostModel.Point(10, 2.0e-6, 1.9e-6, 2.5e-6)));
        assertTrue(noisy.nonMonotonic(), "10 rows faster than 1 row");
        assertEquals(0.5, noisy.maxRelativeError(), 1e-9, "fit 1.1 us against a median of 2.2 us");
    }
}
