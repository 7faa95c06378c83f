package capmoe.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link PyRandom} against values printed by CPython 3.11.7 (each command is beside its values;
 * {@code _randbelow} is the {@code _randbelow_with_getrandbits} of {@code random.Random}).
 */
class PyRandomTest {

    @Test
    void mersenneTwisterSeededByInitByArray() {
        // python3 -c "import random; r=random.Random(1234); print([r.getrandbits(32) for _ in range(5)])"
        PyRandom r = new PyRandom(1234);
        for (long want : new long[] {4150886329L, 3342196574L, 1892932127L, 501869158L, 32175636L}) {
            assertEquals(want, r.getrandbits(32));
        }
        // python3 -c "import random; print(random.Random(0).getrandbits(32), random.Random(-1234).getrandbits(32),
        //             random.Random(2**63).getrandbits(32))"   -> 3626764237 4150886329 2377109768
        assertEquals(3626764237L, new PyRandom(0).getrandbits(32));
        assertEquals(4150886329L, new PyRandom(-1234).getrandbits(32), "a negative seed is its absolute value");
        assertEquals(2377109768L, new PyRandom(Long.MIN_VALUE).getrandbits(32), "|-2^63| = 2^63, a two-word key");
    }

    @Test
    void getrandbitsAboveAndBelowOneWordAndRandbelow() {
        // python3 -c "import random; r=random.Random(2**40+5); print(r.getrandbits(40), r.getrandbits(64),
        //             r.getrandbits(1), [r._randbelow(10) for _ in range(8)])"
        //   -> 569101979940 12244916861145399977 1 [0, 8, 0, 2, 1, 2, 3, 2]
        PyRandom r = new PyRandom((1L << 40) + 5);
        assertEquals(569101979940L, r.getrandbits(40));
        assertEquals(Long.parseUnsignedLong("12244916861145399977"), r.getrandbits(64));
        assertEquals(1, r.getrandbits(1));
        int[] below = new int[8];
        for (int i = 0; i < 8; i++) below[i] = r.randbelow(10);
        assertArrayEquals(new int[] {0, 8, 0, 2, 1, 2, 3, 2}, below);
        // python3 -c "import random; r=random.Random(7); print([r._randbelow(1) for _ in range(3)], r.getrandbits(32),
        //             [r.getrandbits(32) for _ in range(700)][-1])"   -> [0, 0, 0] 2795742288 359671403
        PyRandom s = new PyRandom(7);
        for (int i = 0; i < 3; i++) assertEquals(0, s.randbelow(1), "randbelow(1) still draws one bit");
        assertEquals(2795742288L, s.getrandbits(32));
        long last = 0;
        for (int i = 0; i < 700; i++) last = s.getrandbits(32);
        assertEquals(359671403L, last, "past two regenerations of the 624-word state");
    }

    @Test
    void sampleTakesThePoolOrTheSetAlgorithmAsCPythonDoes() {
        // python3 -c "import random; r=random.Random(1234); print(r.sample(range(1000),5), r.sample(range(7),7),
        //             r.getrandbits(32))"   -> [989, 796, 451, 119, 7] [0, 4, 6, 5, 3, 1, 2] 74852898
        PyRandom r = new PyRandom(1234);
        assertArrayEquals(new int[] {989, 796, 451, 119, 7}, r.sample(1000, 5), "n > 21: set selection");
        assertArrayEquals(new int[] {0, 4, 6, 5, 3, 1, 2}, r.sample(7, 7), "n <= 21: pool");
        assertEquals(74852898L, r.getrandbits(32));
        // k = 6: setsize = 21 + 4^ceil(log4(18)) = 85, so n = 85 is the last pool size
        // python3 -c "import random; r=random.Random(1234); print(r.sample(range(100),6), r.sample(range(85),6),
        //             r.sample(range(86),6))"   -> [99, 56, 14, 0, 11, 74] [4, 10, 12, 45, 30, 2] [3, 2, 44, 82, 79, 61]
        PyRandom q = new PyRandom(1234);
        assertArrayEquals(new int[] {99, 56, 14, 0, 11, 74}, q.sample(100, 6));
        assertArrayEquals(new int[] {4, 10, 12, 45, 30, 2}, q.sample(85, 6));
        assertArrayEquals(new int[] {3, 2, 44, 82, 79, 61}, q.sample(86, 6));
        assertThrows(IllegalArgumentException.class, () -> new PyRandom(1).sample(3, 4), "Sample larger than population");
    }
}
