package capmoe.kernels;

import java.util.Locale;

/**
 * The numerics of the dot products of y = x W^T, chosen at load ({@code --dot}) and kept by each
 * weight {@link Matrix}.
 * <ul>
 *   <li>{@link #EXACT} (the default): weights widened to fp32, one fp32 fused multiply-add chain in
 *       k order ({@link MatMul}'s invariant); matches PyTorch's fp32 to about 1e-6, and is what every
 *       conformance test checks.</li>
 *   <li>{@link #REDUCED}: llama.cpp's CPU arithmetic, the activations rounded to the weights' "vec_dot_type"
 *       before the dot product. BF16 weights: x rounded to bf16 (ggml's rounding), bf16 x bf16 products
 *       summed in fp32 by AVX512_BF16's vdpbf16ps ({@link ReducedMatMul}, native kernels over FFM,
 *       a portable C loop where the CPU lacks the instruction). Q8_0/Q4_0 weights: x quantized to
 *       Q8_0 blocks as ggml does, exact int8 dot products per block and fp32 scale products in llama.cpp's order
 *       ({@link QuantDot}, native kernels over FFM). F16 and F32 weights: as EXACT. Between the
 *       matmuls, the model's fp32 operations as llama.cpp's CPU backend computes them, bit for bit
 *       ({@link GgmlOps}: RMSNorm, RoPE, attention, router logits and softmax, SwiGLU, the combine
 *       order), so a Q8_0/Q4_0 OLMoE GGUF gives llama.cpp's logits bit for bit.
 *       A row's bits still never depend on the other rows of the batch.</li>
 * </ul>
 */
public enum DotMode {
    EXACT,
    REDUCED;

    /** The mode named by {@code --dot} (exact or reduced, any case); a clear error naming the option otherwise. */
    public static DotMode option(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "exact" -> EXACT;
            case "reduced" -> REDUCED;
            default -> throw new IllegalArgumentException("--dot must be exact or reduced, got '" + name + "'");
        };
    }

    /** The option's spelling: exact, reduced. */
    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
