package capmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * The sampling and output parameters of one request, validated: each wrong type or value is an
 * {@link ApiError} (400) naming the parameter. Fields not listed here are ignored, as OpenAI's API does.
 *
 * @param maxTokens    new tokens at most; null = the default (16 for completions as OpenAI's; the
 *                     rest of the context for chat)
 * @param temperature  0 = greedy, as {@link capmoe.model.Generator}
 * @param topP         nucleus mass in (0, 1]
 * @param seed         sampling seed; null = a fresh one
 * @param stop         up to 4 stop strings; the text ends before the first one found
 * @param logprobs     top log-probabilities per token (completions: {@code logprobs} 0..5; chat:
 *                     {@code top_logprobs} 0..20 with {@code logprobs: true}); null = none
 * @param stream       server-sent events
 * @param ignoreEos    keep going past eos_token_id (vLLM's extension, for load tests)
 * @param returnTokenIds also answer the generated token ids (vLLM's extension, {@code return_token_ids})
 */
public record GenerationParams(Integer maxTokens, double temperature, double topP, Long seed, List<String> stop,
                               Integer logprobs, boolean stream, boolean ignoreEos, boolean returnTokenIds) {

    /** Which endpoint the request came to. */
    public enum Kind { COMPLETION, CHAT }

    public GenerationParams {
        stop = List.copyOf(stop);
    }

    /** Greedy, {@code maxTokens} tokens, no stop strings, not streamed. */
    public static GenerationParams greedy(int maxTokens) {
        return new GenerationParams(maxTokens, 0, 1, null, List.of(), null, false, false, false);
    }

    /** Reads and validates the parameters of a request body (an object). */
    public static GenerationParams parse(JsonNode body, Kind kind) {
        int n = intParam(body, "n", 1);
        if (n != 1) throw ApiError.badParam("n", "only n=1 is supported, got " + n);
        if (body.has("best_of") && !body.get("best_of").isNull() && intParam(body, "best_of", 1) != 1) {
            throw ApiError.badParam("best_of", "only best_of=1 is supported");
        }
        if (kind == Kind.COMPLETION && boolParam(body, "echo", false)) throw ApiError.badParam("echo", "echo is not supported");
        Integer maxTokens = null;
        String maxName = kind == Kind.CHAT && present(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        if (present(body, maxName)) {
            maxTokens = intParam(body, maxName, 0);
            if (maxTokens < 1) throw ApiError.badParam(maxName, maxName + " must be at least 1, got " + maxTokens);
        }
        double temperature = numberParam(body, "temperature", 1.0);
        if (!(temperature >= 0 && temperature <= 2)) throw ApiError.badParam("temperature", "temperature must be in [0, 2], got " + temperature);
        double topP = numberParam(body, "top_p", 1.0);
        if (!(topP > 0 && topP <= 1)) throw ApiError.badParam("top_p", "top_p must be in (0, 1], got " + topP);
        Long seed = present(body, "seed") ? longParam(body, "seed") : null;
        List<String> stop = stopParam(body);
        Integer logprobs = null;
        if (kind == Kind.COMPLETION) {
            if (present(body, "logprobs")) {
                logprobs = intParam(body, "logprobs", 0);
                if (logprobs < 0 || logprobs > 5) throw ApiError.badParam("logprobs", "logprobs must be in 0..5, got " + logprobs);
            }
        } else {
            boolean want = boolParam(body, "logprobs", false);
            if (present(body, "top_logprobs")) {
                int top = intParam(body, "top_logprobs", 0);
                if (top < 0 || top > 20) throw ApiError.badParam("top_logprobs", "top_logprobs must be in 0..20, got " + top);
                if (!want) throw ApiError.badParam("top_logprobs", "top_logprobs needs logprobs: true");
                logprobs = top;
            } else if (want) {
                logprobs = 0;
            }
        }
        boolean stream = boolParam(body, "stream", false);
        if (present(body, "stream_options") && !body.get("stream_options").isObject()) {
            throw ApiError.badParam("stream_options", "stream_options must be an object");
        }
        return new GenerationParams(maxTokens, temperature, topP, seed, stop, logprobs, stream,
                boolParam(body, "ignore_eos", false), boolParam(body, "return_token_ids", false));
    }

    /** Present and not JSON null. */
    static boolean present(JsonNode body, String name) {
        return body.has(name) && !body.get(name).isNull();
    }

    static int intParam(JsonNode body, String name, int fallback) {
        if (!present(body, name)) return fallback;
        JsonNode v = body.get(name);
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw ApiError.badParam(name, name + " must be an integer, got " + v);
        return v.intValue();
    }

    static long longParam(JsonNode body, String name) {
        JsonNode v = body.get(name);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw ApiError.badParam(name, name + " must be an integer, got " + v);
        return v.longValue();
    }

    static double numberParam(JsonNode body, String name, double fallback) {
        if (!present(body, name)) return fallback;
        JsonNode v = body.get(name);
        if (!v.isNumber()) throw ApiError.badParam(name, name + " must be a number, got " + v);
        return v.doubleValue();
    }

    static boolean boolParam(JsonNode body, String name, boolean fallback) {
        if (!present(body, name)) return fallback;
        JsonNode v = body.get(name);
        if (!v.isBoolean()) throw ApiError.badParam(name, name + " must be true or false, got " + v);
        return v.booleanValue();
    }

    private static List<String> stopParam(JsonNode body) {
        if (!present(body, "stop")) return List.of();
        JsonNode v = body.get("stop");
        List<String> out = new ArrayList<>();
        if (v.isTextual()) {
            out.add(v.textValue());
        } else if (v.isArray()) {
            for (JsonNode s : v) {
                if (!s.isTextual()) throw ApiError.badParam("stop", "stop must be a string or an array of strings, got " + v);
                out.add(s.textValue());
            }
        } else {
            throw ApiError.badParam("stop", "stop must be a string or an array of strings, got " + v);
        }
        if (out.size() > 4) throw ApiError.badParam("stop", "at most 4 stop strings, got " + out.size());
        for (String s : out) if (s.isEmpty()) throw ApiError.badParam("stop", "stop strings must not be empty");
        return out;
    }
}
