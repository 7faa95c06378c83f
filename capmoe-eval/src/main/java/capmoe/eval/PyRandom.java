package capmoe.eval;

/**
 * CPython's {@code random.Random(seed)} for an integer seed, bit for bit: the MT19937 generator
 * seeded by {@code init_by_array} with the seed's absolute value as 32-bit words (least significant
 * first), {@code getrandbits}, {@code _randbelow_with_getrandbits} and {@code sample}. lm-eval draws
 * few-shot examples with {@code random.Random(1234).sample(docs, n)}; reproducing its picks needs
 * exactly this generator and exactly sample's choice between its two algorithms.
 */
public final class PyRandom {
    private static final int N = 624, M = 397;
    private static final int MATRIX_A = 0x9908b0df, UPPER_MASK = 0x80000000, LOWER_MASK = 0x7fffffff;

    private final int[] mt = new int[N];
    private int mti;

    /** {@code random.Random(seed)}; like CPython, a negative seed is its absolute value. */
    public PyRandom(long seed) {
        // abs() as an unsigned 64-bit value (Long.MIN_VALUE's magnitude is 2^63, which fits unsigned)
        long n = seed < 0 ? -seed : seed;
        int lo = (int) n, hi = (int) (n >>> 32);
        initByArray(hi == 0 ? new int[] {lo} : new int[] {lo, hi});
    }

    private void initGenrand(int s) {
        mt[0] = s;
        for (int i = 1; i < N; i++) mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        mti = N;
    }

    private void initByArray(int[] key) {
        initGenrand(19650218);
        int i = 1, j = 0;
        for (int k = Math.max(N, key.length); k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1664525)) + key[j] + j;
            i++;
            j++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if (j >= key.length) j = 0;
        }
        for (int k = N - 1; k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1566083941)) - i;
            i++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x80000000;
    }

    /** genrand_uint32, as the bits of an int. */
    private int next32() {
        if (mti >= N) {
            int kk = 0, y;
            for (; kk < N - M; kk++) {
                y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
                mt[kk] = mt[kk + M] ^ (y >>> 1) ^ ((y & 1) == 0 ? 0 : MATRIX_A);
            }
            for (; kk < N - 1; kk++) {
                y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
                mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ ((y & 1) == 0 ? 0 : MATRIX_A);
            }
            y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
            mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ ((y & 1) == 0 ? 0 : MATRIX_A);
            mti = 0;
        }
        int y = mt[mti++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    /**
     * {@code getrandbits(k)} for 0 <= k <= 64, as an unsigned value in a long. Above 32 bits CPython
     * fills 32-bit words from the least significant up, dropping the low bits of the last word.
     */
    public long getrandbits(int k) {
        if (k < 0 || k > 64) throw new IllegalArgumentException("getrandbits(" + k + "): k must be in 0..64");
        if (k == 0) return 0;
        if (k <= 32) return Integer.toUnsignedLong(next32()) >>> (32 - k);
        long low = Integer.toUnsignedLong(next32());
        long high = Integer.toUnsignedLong(next32()) >>> (64 - k);
        return low | (high << 32);
    }

    /** {@code _randbelow_with_getrandbits(n)}: uniform in [0, n) by rejection on n.bit_length() bits. */
    public int randbelow(int n) {
        if (n <= 0) throw new IllegalArgumentException("randbelow(" + n + "): n must be > 0");
        int k = 32 - Integer.numberOfLeadingZeros(n);
        long r = getrandbits(k);
        while (r >= n) r = getrandbits(k);
        return (int) r;
    }

    /**
     * {@code sample(range(n), k)}: k distinct indices of a population of n, in selection order
     * ({@code sample(docs, k)} picks {@code docs[i]} for each returned i). Like CPython it takes the
     * pool algorithm (partial Fisher-Yates on a copy) when an n-list is smaller than a k-set, else
     * set selection with rejection of repeats; the two give different picks from the same state.
     */
    public int[] sample(int n, int k) {
        if (k < 0 || k > n) {
            throw new IllegalArgumentException("Sample larger than population or is negative: " + k + " of " + n);
        }
        int[] result = new int[k];
        int setsize = 21; // size of a small set minus size of an empty list
        if (k > 5) setsize += (int) Math.pow(4, Math.ceil(Math.log(k * 3.0) / Math.log(4)));
        if (n <= setsize) {
            int[] pool = new int[n];
            for (int i = 0; i < n; i++) pool[i] = i;
            for (int i = 0; i < k; i++) {
                int j = randbelow(n - i);
                result[i] = pool[j];
                pool[j] = pool[n - i - 1];
            }
        } else {
            java.util.Set<Integer> selected = new java.util.HashSet<>();
            for (int i = 0; i < k; i++) {
                int j = randbelow(n);
                while (selected.contains(j)) j = randbelow(n);
                selected.add(j);
                result[i] = j;
            }
        }
        return result;
    }
}
