package capmoe.serve;

import java.util.List;

/** What the scheduler tells a request's connection, in order: tokens, then one end. */
sealed interface Event {

    /** One generated token and the text it makes safe to send (may be empty). */
    record Token(int id, String text, TokenLogprob logprob) implements Event { }

    /** Generation ended: {@code reason} is OpenAI's finish_reason ("stop" or "length"). */
    record Done(String reason, int promptTokens, int completionTokens) implements Event { }

    /** The request failed after it was accepted (the model threw, or the server is stopping). */
    record Failed(ApiError error) implements Event { }

    /** A token's log-probability under the model (log-softmax of the raw logits), and the top ones. */
    record TokenLogprob(int id, String token, double logprob, List<Top> top) { }

    record Top(int id, String token, double logprob) { }
}
