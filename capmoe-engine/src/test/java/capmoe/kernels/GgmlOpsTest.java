package capmoe.kernels;

import capmoe.routing.GgmlMath;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * {@link GgmlOps} against llama.cpp's own tensors, bit for bit: rows of layer 0 of olmoe-tiny's
 * Q8_0 GGUF as the snapshot's CPU backend computed them (-march=native on Zen 4, 256 tokens of
 * WikiText-2 test in one batch), cut from a {@code DUMP=} run of scripts/llamacpp-logits.cpp by
 * {@code scripts/ggml-ops-fixture.py} into {@code src/test/resources/capmoe/kernels/ggml-olmoe-tiny-q8_0/}.
 * Each op gets ggml's inputs and must give ggml's output bits ({@code scripts/ops-vs-ggml} checks
 * every row of two layers, in Q8_0 and BF16). Tokens in the fixture: 1, 2, 3, 40, 77, 255.
 */
class GgmlOpsTest {
    private static final int H = 192, HEADS = 4, HEAD_DIM = 48, EXPERTS = 32, FF = 96, KV = 256, T = 40;

    @Test
    void rmsNormAndMulAreGgmlsBits() throws IOException {
        float[] x = f32("rms_x"), w = f32("rms_w"), want = f32("rms_y"), got = new float[want.length];
        float eps = Float.intBitsToFloat(i32("rms_eps")[0]);
        assertEquals(1e-5f, eps);
        for (int r = 0; r < x.length / H; r++) GgmlOps.rmsNorm(x, r * H, w, eps, got, r * H, H);
        assertBits("RMSNorm", want, got);
    }

    @Test
    void ropeNeoxIsGgmlsBits() throws IOException {
        float[] x = f32("rope_x"), want = f32("rope_y"), cos = new float[HEAD_DIM / 2], sin = new float[HEAD_DIM / 2];
        int[] pos = i32("rope_pos");
        float thetaScale = GgmlOps.ropeThetaScale(10000f, HEAD_DIM);
        for (int r = 0; r < pos.length; r++) {
            GgmlOps.ropeCache(pos[r], HEAD_DIM / 2, thetaScale, cos, sin, 0);
            for (int h = 0; h < HEADS; h++) GgmlOps.ropeNeox(x, (r * HEADS + h) * HEAD_DIM, HEAD_DIM, cos, sin, 0);
        }
        assertBits("RoPE", want, x);
    }

    @Test
    void attentionScoresSoftmaxAndValuesAreGgmlsBits() throws IOException {
        float[] k = f32("attn_k"), q = f32("attn_q"), v = f32("attn_v"), lanes = new float[64];
        float[] kq = new float[HEADS * (T + 1)];
        for (int h = 0; h < HEADS; h++)
            for (int j = 0; j <= T; j++) kq[h * (T + 1) + j] = GgmlOps.vecDotF32(k, (j * HEADS + h) * HEAD_DIM, q, h * HEAD_DIM, HEAD_DIM, lanes);
        assertBits("KQ (ggml_vec_dot_f32)", f32("attn_kq"), kq);

        float[] p = f32("attn_kq_full"), wantP = f32("attn_p");
        float scale = Float.intBitsToFloat(i32("attn_scale")[0]);
        for (int h = 0; h < HEADS; h++) GgmlMath.softmax(p, h * KV, KV, T + 1, scale, lanes);
        assertBits("masked softmax", wantP, p);

        float[] kqv = new float[HEADS * HEAD_DIM], vt = new float[KV];
        for (int h = 0; h < HEADS; h++)
            for (int d = 0; d < HEAD_DIM; d++) {
                for (int j = 0; j < KV; j++) vt[j] = j <= T ? v[j * H + h * HEAD_DIM + d] : 0f;
                kqv[h * HEAD_DIM + d] = GgmlOps.dotF32(vt, 0, wantP, h * KV, KV, lanes);
            }
        assertBits("KQV (tinyBLAS F32)", f32("attn_kqv"), kqv);
    }

    @Test
    void routerLogitsAndProbabilitiesAreGgmlsBits() throws IOException {
        float[] w = f32("router_w"), x = f32("router_x"), lanes = new float[16];
        int rows = x.length / H;
        float[] logits = new float[rows * EXPERTS];
        for (int r = 0; r < rows; r++)
            for (int e = 0; e < EXPERTS; e++) logits[r * EXPERTS + e] = GgmlOps.dotF32(w, e * H, x, r * H, H, lanes);
        assertBits("router logits (tinyBLAS F32)", f32("router_logits"), logits);
        for (int r = 0; r < rows; r++) GgmlMath.softmax(logits, r * EXPERTS, EXPERTS, EXPERTS, 1f, lanes);
        assertBits("router softmax", f32("router_probs"), logits);
    }

    @Test
    void swigluIsGgmlsBits() throws IOException {
        float[] g = f32("swiglu_g"), u = f32("swiglu_u");
        for (int r = 0; r < g.length / FF; r++) GgmlOps.swiglu(g, r * FF, u, r * FF, FF);
        assertBits("SwiGLU", f32("swiglu_y"), g);
    }

    @Test
    void expfIsGgmlsPolynomialAtTheEdges() {
        assertEquals(1f, GgmlMath.expf(0f));
        assertEquals(0f, GgmlMath.expf(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, GgmlMath.expf(200f));
        assertEquals(0f, GgmlMath.expf(-200f));
        for (float x = -87f; x <= 88f; x += 0.37f) {
            float want = (float) Math.exp(x);
            assertEquals(want, GgmlMath.expf(x), Math.ulp(want) * 2, "expf(" + x + ")");   // ggml_v_expf: within 1.5 ulp
        }
    }

    private static void assertBits(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what);
        int differ = 0, first = -1;
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i])) {
                if (first < 0) first = i;
                differ++;
            }
        }
        if (differ > 0) {
            throw new AssertionError(what + ": " + differ + " of " + want.length + " values differ from ggml's, the first at " + first
                    + " (" + got[first] + " vs " + want[first] + ")");
        }
    }

    private static ByteBuffer bytes(String name) throws IOException {
        try (InputStream in = GgmlOpsTest.class.getResourceAsStream("ggml-olmoe-tiny-q8_0/" + name)) {
            assertNotNull(in, "test resource capmoe/kernels/ggml-olmoe-tiny-q8_0/" + name + " is missing (scripts/ggml-ops-fixture.py makes it)");
            return ByteBuffer.wrap(in.readAllBytes()).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    private static float[] f32(String name) throws IOException {
        ByteBuffer b = bytes(name + ".f32");
        float[] a = new float[b.remaining() / 4];
        b.asFloatBuffer().get(a);
        return a;
    }

    private static int[] i32(String name) throws IOException {
        ByteBuffer b = bytes(name + ".i32");
        int[] a = new int[b.remaining() / 4];
        b.asIntBuffer().get(a);
        return a;
    }
}
