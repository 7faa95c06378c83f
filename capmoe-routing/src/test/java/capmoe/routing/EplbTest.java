package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** DeepSeek's EPLB (global policy) on a hand-worked layer, and its invariants on random loads. */
class EplbTest {

    /**
     * Loads 100, 40, 30, 10 on 2 devices with 2 redundant replicas, worked by hand:
     * replicate: 100/1 is the largest load per replica, then 100/2 = 50 still beats 40, so expert 0
     * gets both (3 replicas of 33.3). Slots: s0 e0 33.3, s1 e1 40, s2 e2 30, s3 e3 10, s4 e0 33.3,
     * s5 e0 33.3. pack (3 per device), heaviest first: s1 -> d0 (40); s0 -> d1 (33.3); s4 -> d1
     * (66.7 < ... d0 40 is not lighter? d1 33.3 < d0 40, so d1: 66.7); s5 -> d0 (73.3); s2 -> d1
     * (96.7, full); s3 -> d0 (83.3). Expert 0's replicas: s0 d1, s4 d1, s5 d0.
     */
    @Test
    void handWorkedLayer() {
        Placement p = Eplb.place(new double[] {100, 40, 30, 10}, 2, 2);
        assertArrayEquals(new int[][] {{1, 1, 0}, {0}, {1}, {0}}, p.replicaDevices());
        assertArrayEquals(new int[] {1, 0, 1, 0}, p.deviceOf());
        assertArrayEquals(new int[] {3, 3}, p.expertsPerDevice());
        assertEquals(2, p.redundantSlots());
        assertArrayEquals(new int[] {0, 1, 2, 3, 0, 0}, Eplb.replicate(new double[] {100, 40, 30, 10}, 6));
        // the device loads EPLB balances: 40 + 33.3 + 10 = 83.3 and 33.3 + 33.3 + 30 = 96.7 (contiguous: 140 and 40)
    }

    @Test
    void replicasGoToTheLargestLoadPerReplicaTiesToTheLowerExpert() {
        assertArrayEquals(new int[] {0, 1, 2, 0, 1}, Eplb.replicate(new double[] {10, 10, 1}, 5));
        assertArrayEquals(new int[] {0, 1, 1, 1}, Eplb.replicate(new double[] {1, 9}, 4)); // 9 > 4.5 > 1
    }

    @Test
    void oneReplicaPerDeviceIsTheIdentityAsInEplb() {
        assertArrayEquals(new int[] {0, 1, 2, 3}, Eplb.pack(new double[] {1, 5, 3, 2}, 4));
        Placement p = Eplb.place(new double[] {1, 5, 3, 2}, 0, 4);
        assertArrayEquals(new int[] {0, 1, 2, 3}, p.deviceOf());
        assertFalse(p.replicated());
    }

    @Test
    void everyExpertAtLeastOnceAndDevicesFilledEvenlyOnRandomLoads() {
        SplittableRandom r = new SplittableRandom(3);
        for (int trial = 0; trial < 200; trial++) {
            int devices = 1 + r.nextInt(8);
            int experts = devices * (1 + r.nextInt(6)) + r.nextInt(devices);
            int redundant = r.nextInt(2 * devices + 1);
            double[] load = new double[experts];
            for (int e = 0; e < experts; e++) load[e] = r.nextInt(4) == 0 ? 0 : Math.exp(3 * r.nextDouble());
            Placement p = Eplb.place(load, redundant, devices);
            String where = "trial " + trial + " E=" + experts + " D=" + devices + " R=" + redundant;
            assertEquals(redundant, p.redundantSlots(), where);
            int slots = 0;
            for (int e = 0; e < experts; e++) {
                assertTrue(p.replicas(e) >= 1, where + ": expert " + e + " has no replica");
                slots += p.replicas(e);
            }
            assertEquals(experts + redundant, slots, where);
            int room = (slots + devices - 1) / devices;
            for (int n : p.expertsPerDevice()) assertTrue(n <= room, where + ": a device holds " + n + " > " + room);
            if (slots % devices == 0) for (int n : p.expertsPerDevice()) assertEquals(slots / devices, n, where + " (EPLB: exactly n/m per device)");
        }
    }

    @Test
    void replicationNeverRaisesTheLargestLoadPerReplica() {
        double[] load = {50, 5, 5, 40, 1, 1, 1, 1};
        double before = 50;
        for (int redundant = 1; redundant <= 8; redundant++) {
            int[] slots = Eplb.replicate(load, load.length + redundant);
            int[] count = new int[load.length];
            for (int e : slots) count[e]++;
            double max = 0;
            for (int e = 0; e < load.length; e++) max = Math.max(max, load[e] / count[e]);
            assertTrue(max <= before, "R=" + redundant);
            before = max;
        }
    }

    @Test
    void badInputIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> Eplb.place(new double[] {1, Double.NaN}, 1, 2));
        assertTrue(e.getMessage().contains("expert 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Eplb.place(new double[] {1, 2}, -1, 2));
        assertTrue(e.getMessage().contains("redundant"), e.getMessage());
    }
}
