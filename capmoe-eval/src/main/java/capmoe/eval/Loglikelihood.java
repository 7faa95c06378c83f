package capmoe.eval;

/** The answer to a {@link LoglikelihoodRequest}: summed log-probability, and whether every continuation token was the argmax. */
public record Loglikelihood(double logprob, boolean greedy) { }
