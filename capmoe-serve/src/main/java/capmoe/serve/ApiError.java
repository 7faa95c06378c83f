package capmoe.serve;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request the server refuses, in OpenAI's error shape:
 * {@code {"error": {"message", "type", "param", "code"}}} with the HTTP status. The statuses
 * (README, "Serving") are: 400 bad JSON, wrong type or value, prompt over the context; 404 unknown
 * model or route; 405 known route with another method; 429 queue full; 500 the model failed;
 * 503 the server is shutting down.
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiError(int status, String type, String message, String param, String code) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 for a parameter with a wrong type or value. */
    public static ApiError badParam(String param, String message) {
        return new ApiError(400, "invalid_request_error", message, param, "invalid_value");
    }

    /** 400 for a request that is not valid as a whole (unparseable JSON, no object). */
    public static ApiError badRequest(String message) {
        return new ApiError(400, "invalid_request_error", message, null, null);
    }

    /** 400 for a prompt (+ max_tokens) longer than a slot holds; OpenAI's code for it. */
    public static ApiError contextLength(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, "context_length_exceeded");
    }

    public int status() { return status; }

    public String type() { return type; }

    public String param() { return param; }

    public String code() { return code; }

    /** The JSON body. */
    public ObjectNode body() {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", getMessage());
        e.put("type", type);
        if (param == null) e.putNull("param"); else e.put("param", param);
        if (code == null) e.putNull("code"); else e.put("code", code);
        return root;
    }
}
