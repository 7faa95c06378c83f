package capmoe.routing;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float exp and lane sum that round the same way in every JIT tier.
 *
 * <p>Why not the incubator's own: {@code lanewise(EXP)} is an SVML call once C2 compiles it but
 * {@code Math.exp} per lane before, and {@code reduceLanes(ADD)} has no fixed lane order when
 * intrinsified. Both change the last bit depending on whether the interpreter, C1 or C2 ran the
 * call, so the same forward pass could differ between two calls of one JVM — and expert-parallel
 * outputs could not be bit-identical to local ones. Here every step is one IEEE operation (add,
 * multiply, fma, shuffle), which Java defines exactly, so the bits depend on the input alone.
 *
 * <p>Lives in the routing library because the gate needs it and the library stands alone; the
 * engine's kernels use the same class so SiLU and the gate round alike.
 */
public final class VectorMath {
    private VectorMath() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    // exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln2/2; ln 2 split in two so n*ln2 is exact (Cephes expf).
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    /** Adding 1.5·2^23 rounds to an integer held in the low mantissa bits (round half even). */
    private static final float ROUND = 12582912f;
    private static final int ROUND_BITS = 0x4B400000;
    /** Above: +Infinity. Below: 0 (exp is under half the smallest subnormal). */
    private static final float MAX_X = 88.72283935546875f, MIN_X = -103.97208f;

    /** e^x for every lane, within 2 ulp of the correctly rounded value (see VectorMathTest). */
    public static FloatVector exp(FloatVector x) {
        FloatVector c = x.max(MIN_X).min(MAX_X);
        FloatVector t = c.mul(LOG2E).add(ROUND);
        IntVector n = t.reinterpretAsInts().sub(ROUND_BITS);
        FloatVector nf = t.sub(ROUND);
        FloatVector r = nf.fma(bc(-LN2_LO), nf.fma(bc(-LN2_HI), c));
        FloatVector p = r.fma(P0, P1).fma(r, bc(P2)).fma(r, bc(P3)).fma(r, bc(P4)).fma(r, bc(P5));
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        // 2^n as two factors so n in [-150, 128] never leaves the normal exponent range
        IntVector n1 = n.lanewise(VectorOperators.ASHR, 1);
        IntVector n2 = n.sub(n1);
        y = y.mul(pow2(n1)).mul(pow2(n2));
        VectorMask<Float> over = x.compare(VectorOperators.GT, MAX_X);
        VectorMask<Float> under = x.compare(VectorOperators.LT, MIN_X);
        return y.blend(Float.POSITIVE_INFINITY, over).blend(0f, under);
    }

    /** The same computation on one float: identical bits to a lane of {@link #exp(FloatVector)}. */
    public static float exp(float x) {
        if (x > MAX_X) return Float.POSITIVE_INFINITY;
        if (x < MIN_X) return 0f;
        float c = x; // NaN passes through the arithmetic below as in the vector form
        float t = c * LOG2E + ROUND;
        int n = Float.floatToRawIntBits(t) - ROUND_BITS;
        float nf = t - ROUND;
        float r = Math.fma(nf, -LN2_LO, Math.fma(nf, -LN2_HI, c));
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, P0, P1), r, P2), r, P3), r, P4), r, P5);
        float y = Math.fma(p, r * r, r) + 1f;
        int n1 = n >> 1;
        return y * pow2(n1) * pow2(n - n1);
    }

    private static FloatVector bc(float v) {
        return FloatVector.broadcast(F, v);
    }

    private static FloatVector pow2(IntVector n) {
        return n.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    }

    private static float pow2(int n) {
        return Float.intBitsToFloat((n + 127) << 23);
    }

    // Pairwise tree: lanes i and i^d added for d = L/2 .. 1, so lane 0 ends with the total.
    private static final VectorShuffle<Float> SWAP8 = swap(8), SWAP4 = swap(4), SWAP2 = swap(2), SWAP1 = swap(1);

    private static VectorShuffle<Float> swap(int d) {
        return d < L ? VectorShuffle.fromOp(F, i -> i ^ d) : null;
    }

    /** Sum of the lanes of a {@code SPECIES_PREFERRED} vector in a fixed pairwise order. */
    public static float sum(FloatVector v) {
        if (L > 16) {
            float s = 0f;
            for (int i = 0; i < L; i++) s += v.lane(i);
            return s;
        }
        if (L == 16) v = v.add(v.rearrange(SWAP8));
        if (L >= 8) v = v.add(v.rearrange(SWAP4));
        if (L >= 4) v = v.add(v.rearrange(SWAP2));
        if (L >= 2) v = v.add(v.rearrange(SWAP1));
        return v.lane(0);
    }

    /**
     * {@link #sum(FloatVector)} of the L lanes stored at {@code lanes[at .. at+L)} (which it
     * overwrites), in scalar code: the same adds in the same order, so the same bits. For a caller
     * where C2 may not inline {@code sum}: a vector passed to a call C2 does not inline is boxed on
     * the heap at every call ({@code v.intoArray(lanes, at)} first keeps it in registers).
     */
    public static float sum(float[] lanes, int at) {
        if (L > 16) {
            float s = 0f;
            for (int i = 0; i < L; i++) s += lanes[at + i];
            return s;
        }
        for (int d = L / 2; d >= 1; d >>= 1) {
            for (int i = 0; i < d; i++) lanes[at + i] += lanes[at + i + d];   // lane i + lane i^d, i < d
        }
        return lanes[at];
    }

    /** The species these functions are written for. */
    public static VectorSpecies<Float> species() {
        return F;
    }
}
