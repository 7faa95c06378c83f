package capmoe.serve;

import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.DeviceExpertExecutor;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpMode;
import capmoe.tokenizer.HfTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code ./capmoe serve}: an OpenAI-compatible HTTP API over the {@link Scheduler}. Helidon SE's web
 * server runs each connection on its own virtual thread; a handler parses and validates the request
 * ({@link GenerationParams}, {@link ApiError} for what is wrong), submits it, and then only waits for
 * the scheduler's {@link Event}s and writes them out: JSON at the end, or server-sent events as they
 * come ({@code data: {...}} per chunk, {@code data: [DONE]} last). A write that fails (the client went
 * away) cancels the request, which frees its slot at the next step.
 *
 * <p>Routes: {@code POST /v1/completions}, {@code POST /v1/chat/completions}, {@code GET /v1/models},
 * {@code GET /health}, {@code GET /metrics} (Prometheus text); anything else is a 404 (405 for a known
 * route with another method), in OpenAI's error shape.
 */
public final class OpenAiServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ROUTES = Set.of("/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics");

    private final ServeOptions options;
    private final CausalLM model;
    private final HfTokenizer hfTokenizer;
    private final LockedTokenizer tokenizer;
    private final ChatTemplate chat;
    private final ServeMetrics metrics;
    private final DeviceExpertExecutor ep;
    private final Scheduler scheduler;
    private final WebServer web;
    private final long created = System.currentTimeMillis() / 1000;

    private OpenAiServer(ServeOptions options) {
        this.options = options;
        ModelConfig config = ModelConfig.read(options.model());
        int context = options.maxContext() == 0 ? config.maxPositionEmbeddings() : options.maxContext();
        if (context > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--max-context " + context + " is above the model's max_position_embeddings "
                    + config.maxPositionEmbeddings());
        }
        int experts = config.numExperts(), devices = options.devices();
        if (devices > experts) {
            throw new IllegalArgumentException("--devices must be in 1.." + experts + " for " + experts + " experts (got " + devices + ")");
        }
        this.hfTokenizer = HfTokenizer.load(options.model());
        this.tokenizer = new LockedTokenizer(hfTokenizer);
        this.chat = ChatTemplate.read(options.model());
        this.model = Models.load(options.model(), null, options.weights());
        this.metrics = new ServeMetrics(config.numHiddenLayers(), experts, devices, options.maxRunning(), context);
        RunOptions run = RunOptions.of(options.policy()).withPlacement(Placement.contiguous(experts, devices));
        if (devices > 1) {
            EpMode mode = EpMode.parse(options.epMode());
            int threads = EngineCores.defaultThreads(mode, devices);
            this.ep = new DeviceExpertExecutor(Devices.contiguous(experts, devices), mode, new CommModel(0, 2),
                    d -> EngineCores.share(threads), metrics);
            run = run.withExecutor(ep);
        } else {
            this.ep = null;
        }
        this.scheduler = new Scheduler(model, tokenizer, run, options.decodeCapacity(), options.maxRunning(),
                options.maxBatchTokens(), options.maxQueue(), context, metrics);
        this.web = listen(options);
    }

    private WebServer listen(ServeOptions options) {
        try {
            WebServer w = http(options).start();
            // Helidon logs a bind failure and returns a stopped server (port -1) rather than throwing
            if (!w.isRunning() || w.port() < 0) throw new IllegalStateException("the address is in use or cannot be bound");
            return w;
        } catch (RuntimeException e) {
            scheduler.close();
            if (ep != null) ep.close();
            model.close();
            hfTokenizer.close();
            throw new IllegalArgumentException("cannot listen on " + options.host() + ":" + options.port() + ": " + e.getMessage(), e);
        }
    }

    private WebServer http(ServeOptions options) {
        return WebServer.builder().host(options.host()).port(options.port())
                .routing(HttpRouting.builder()
                        .post("/v1/completions", (req, res) -> generate(req, res, GenerationParams.Kind.COMPLETION))
                        .post("/v1/chat/completions", (req, res) -> generate(req, res, GenerationParams.Kind.CHAT))
                        .get("/v1/models", (req, res) -> models(res))
                        .get("/health", (req, res) -> res.header(HeaderNames.CONTENT_TYPE, "application/json").send("{\"status\":\"ok\"}"))
                        .get("/metrics", (req, res) -> res.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
                                .send(metrics.scrape()))
                        .any(this::unknownRoute)
                        .error(Throwable.class, (req, res, t) -> sendError(res,
                                new ApiError(500, "server_error", "internal error: " + t, null, null))))
                .build();
    }

    /** Loads the model, starts the scheduler and the HTTP server; {@link #port()} tells where. */
    public static OpenAiServer start(ServeOptions options) {
        return new OpenAiServer(options);
    }

    public int port() { return web.port(); }

    /** The base URL, e.g. http://127.0.0.1:8000. */
    public String url() { return "http://" + options.host() + ":" + port(); }

    public ServeOptions options() { return options; }

    public ServeMetrics metrics() { return metrics; }

    /** Whether the chat endpoint renders the checkpoint's template (false: the plain fallback). */
    public boolean hasChatTemplate() { return !chat.plain(); }

    public int maxContext() { return scheduler.maxContext(); }

    @Override
    public void close() {
        web.stop();
        scheduler.close();
        if (ep != null) ep.close();
        model.close();
        hfTokenizer.close();
    }

    private void models(ServerResponse res) {
        ObjectNode root = JSON.createObjectNode().put("object", "list");
        root.putArray("data").addObject().put("id", options.servedName()).put("object", "model")
                .put("created", created).put("owned_by", "capmoe").put("max_model_len", scheduler.maxContext());
        sendJson(res, 200, root);
    }

    private void unknownRoute(ServerRequest req, ServerResponse res) {
        String path = req.path().path(), method = req.prologue().method().text();
        if (ROUTES.contains(path)) {
            sendError(res, new ApiError(405, "invalid_request_error", "method " + method + " is not allowed on " + path, null, "method_not_allowed"));
        } else {
            sendError(res, new ApiError(404, "invalid_request_error", "unknown route: " + method + " " + path, null, "not_found"));
        }
    }

    /** POST /v1/completions and /v1/chat/completions. */
    private void generate(ServerRequest req, ServerResponse res, GenerationParams.Kind kind) {
        Sequence seq;
        GenerationParams p;
        try {
            JsonNode body = readBody(req);
            checkModel(body);
            p = GenerationParams.parse(body, kind);
            int[] prompt = kind == GenerationParams.Kind.CHAT ? tokenizer.encode(chat.render(messages(body))) : prompt(body);
            int context = scheduler.maxContext();
            if (prompt.length == 0) throw ApiError.badParam(kind == GenerationParams.Kind.CHAT ? "messages" : "prompt", "the prompt is empty");
            if (prompt.length >= context) {
                throw ApiError.contextLength("This model's maximum context length is " + context + " tokens, and the prompt has "
                        + prompt.length + " tokens (at least one must be left to generate)", kind == GenerationParams.Kind.CHAT ? "messages" : "prompt");
            }
            int maxTokens = p.maxTokens() != null ? p.maxTokens() : kind == GenerationParams.Kind.COMPLETION
                    ? Math.min(16, context - prompt.length) : context - prompt.length;
            if (prompt.length + maxTokens > context) {
                throw ApiError.contextLength("This model's maximum context length is " + context + " tokens. However, you requested "
                        + (prompt.length + maxTokens) + " tokens (" + prompt.length + " in the prompt, " + maxTokens
                        + " for the completion). Please reduce the prompt or max_tokens.", "max_tokens");
            }
            seq = scheduler.submit(prompt, p, maxTokens);
        } catch (ApiError e) {
            sendError(res, e);
            return;
        }
        String id = (kind == GenerationParams.Kind.CHAT ? "chatcmpl-" : "cmpl-") + seq.id();
        try {
            if (p.stream()) stream(res, seq, p, kind, id); else complete(res, seq, p, kind, id);
        } catch (InterruptedException e) {
            seq.cancel();
            Thread.currentThread().interrupt();
        }
    }

    private void complete(ServerResponse res, Sequence seq, GenerationParams p, GenerationParams.Kind kind, String id)
            throws InterruptedException {
        StringBuilder text = new StringBuilder();
        List<Integer> ids = new ArrayList<>();
        List<Event.TokenLogprob> lps = new ArrayList<>();
        while (true) {
            Event e = seq.next(60);
            switch (e) {
                case null -> { }
                case Event.Token t -> {
                    text.append(t.text());
                    if (t.id() >= 0) ids.add(t.id());
                    if (t.logprob() != null) lps.add(t.logprob());
                }
                case Event.Failed f -> {
                    sendError(res, f.error());
                    return;
                }
                case Event.Done d -> {
                    ObjectNode root = head(id, kind == GenerationParams.Kind.CHAT ? "chat.completion" : "text_completion");
                    ObjectNode choice = root.putArray("choices").addObject().put("index", 0);
                    if (kind == GenerationParams.Kind.CHAT) {
                        choice.putObject("message").put("role", "assistant").put("content", text.toString());
                    } else {
                        choice.put("text", text.toString());
                    }
                    logprobs(choice, lps, p, kind);
                    choice.put("finish_reason", d.reason());
                    if (p.returnTokenIds()) {
                        ArrayNode a = choice.putArray("token_ids");
                        ids.forEach(a::add);
                    }
                    usage(root, d);
                    sendJson(res, 200, root);
                    return;
                }
            }
        }
    }

    private void stream(ServerResponse res, Sequence seq, GenerationParams p, GenerationParams.Kind kind, String id)
            throws InterruptedException {
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        res.header(HeaderNames.CACHE_CONTROL, "no-cache");
        String object = kind == GenerationParams.Kind.CHAT ? "chat.completion.chunk" : "text_completion";
        try (OutputStream out = res.outputStream()) {
            if (kind == GenerationParams.Kind.CHAT) {
                ObjectNode first = head(id, object);
                ObjectNode c = first.putArray("choices").addObject().put("index", 0);
                c.putObject("delta").put("role", "assistant").put("content", "");
                c.putNull("logprobs");
                c.putNull("finish_reason");
                event(out, first);
            }
            while (true) {
                Event e = seq.next(60);
                switch (e) {
                    case null -> { }
                    case Event.Token t -> {
                        if (t.text().isEmpty() && t.logprob() == null && !p.returnTokenIds()) continue;
                        ObjectNode chunk = head(id, object);
                        ObjectNode c = chunk.putArray("choices").addObject().put("index", 0);
                        if (kind == GenerationParams.Kind.CHAT) c.putObject("delta").put("content", t.text()); else c.put("text", t.text());
                        logprobs(c, t.logprob() == null ? List.of() : List.of(t.logprob()), p, kind);
                        c.putNull("finish_reason");
                        if (p.returnTokenIds()) {
                            ArrayNode a = c.putArray("token_ids");
                            if (t.id() >= 0) a.add(t.id());
                        }
                        event(out, chunk);
                    }
                    case Event.Failed f -> {
                        event(out, f.error().body());
                        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                        return;
                    }
                    case Event.Done d -> {
                        ObjectNode chunk = head(id, object);
                        ObjectNode c = chunk.putArray("choices").addObject().put("index", 0);
                        if (kind == GenerationParams.Kind.CHAT) c.putObject("delta"); else c.put("text", "");
                        c.putNull("logprobs");
                        c.put("finish_reason", d.reason());
                        usage(chunk, d);
                        event(out, chunk);
                        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                        out.flush();
                        return;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // the client went away (Helidon reports a failed socket write as an unchecked exception)
        } finally {
            seq.cancel(); // no-op when it ended; else the scheduler frees the slot at its next step
        }
    }

    private static void event(OutputStream out, JsonNode chunk) throws IOException {
        out.write(("data: " + JSON.writeValueAsString(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private ObjectNode head(String id, String object) {
        return JSON.createObjectNode().put("id", id).put("object", object)
                .put("created", System.currentTimeMillis() / 1000).put("model", options.servedName());
    }

    private static void usage(ObjectNode root, Event.Done d) {
        root.putObject("usage").put("prompt_tokens", d.promptTokens()).put("completion_tokens", d.completionTokens())
                .put("total_tokens", d.promptTokens() + d.completionTokens());
    }

    /** OpenAI's logprobs object of a choice: the legacy one for completions, {@code content} for chat. */
    private static void logprobs(ObjectNode choice, List<Event.TokenLogprob> lps, GenerationParams p, GenerationParams.Kind kind) {
        if (p.logprobs() == null) {
            choice.putNull("logprobs");
            return;
        }
        ObjectNode o = choice.putObject("logprobs");
        if (kind == GenerationParams.Kind.CHAT) {
            ArrayNode content = o.putArray("content");
            for (Event.TokenLogprob lp : lps) {
                ObjectNode t = content.addObject().put("token", lp.token()).put("logprob", lp.logprob());
                bytes(t, lp.token());
                ArrayNode top = t.putArray("top_logprobs");
                for (Event.Top x : lp.top()) bytes(top.addObject().put("token", x.token()).put("logprob", x.logprob()), x.token());
            }
        } else {
            ArrayNode tokens = o.putArray("tokens"), values = o.putArray("token_logprobs"), tops = o.putArray("top_logprobs"),
                    offsets = o.putArray("text_offset");
            int offset = 0;
            for (Event.TokenLogprob lp : lps) {
                tokens.add(lp.token());
                values.add(lp.logprob());
                ObjectNode top = tops.addObject();
                for (Event.Top x : lp.top()) top.put(x.token(), x.logprob());
                offsets.add(offset);
                offset += lp.token().length();
            }
        }
    }

    private static void bytes(ObjectNode t, String token) {
        ArrayNode b = t.putArray("bytes");
        for (byte x : token.getBytes(StandardCharsets.UTF_8)) b.add(x & 0xff);
    }

    private static JsonNode readBody(ServerRequest req) {
        String text = req.content().hasEntity() ? req.content().as(String.class) : "";
        if (text.isBlank()) throw ApiError.badRequest("the request body is empty; expected a JSON object");
        JsonNode body;
        try {
            body = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw ApiError.badRequest("the request body is not valid JSON: " + e.getOriginalMessage()
                    + " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")");
        }
        if (body == null || !body.isObject()) throw ApiError.badRequest("the request body must be a JSON object");
        return body;
    }

    private void checkModel(JsonNode body) {
        if (!GenerationParams.present(body, "model")) return;
        JsonNode m = body.get("model");
        if (!m.isTextual()) throw ApiError.badParam("model", "model must be a string, got " + m);
        if (!m.textValue().equals(options.servedName())) {
            throw new ApiError(404, "invalid_request_error", "The model '" + m.textValue() + "' does not exist; this server serves '"
                    + options.servedName() + "'", "model", "model_not_found");
        }
    }

    /** A completion's prompt: a string, an array of token ids, or an array of one string. */
    private int[] prompt(JsonNode body) {
        JsonNode p = body.get("prompt");
        if (p == null || p.isNull()) throw ApiError.badParam("prompt", "prompt is required");
        if (p.isTextual()) return tokenizer.encode(p.textValue());
        if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) return tokenizer.encode(p.get(0).textValue());
        if (p.isArray() && p.size() > 0 && p.get(0).isIntegralNumber()) {
            int[] ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode x = p.get(i);
                if (!x.isIntegralNumber() || !x.canConvertToInt() || x.intValue() < 0 || x.intValue() >= model.config().vocabSize()) {
                    throw ApiError.badParam("prompt", "prompt[" + i + "] = " + x + " is not a token id in 0.." + (model.config().vocabSize() - 1));
                }
                ids[i] = x.intValue();
            }
            return ids;
        }
        if (p.isArray() && p.size() > 1) throw ApiError.badParam("prompt", "one prompt per request (n=1); got an array of " + p.size());
        throw ApiError.badParam("prompt", "prompt must be a string or an array of token ids, got " + p);
    }

    private static List<ChatTemplate.Message> messages(JsonNode body) {
        JsonNode ms = body.get("messages");
        if (ms == null || !ms.isArray() || ms.isEmpty()) throw ApiError.badParam("messages", "messages must be a non-empty array");
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (int i = 0; i < ms.size(); i++) {
            JsonNode m = ms.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) throw ApiError.badParam(where, where + " must be an object");
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual() || !Set.of("system", "developer", "user", "assistant", "tool").contains(role.textValue())) {
                throw ApiError.badParam(where + ".role", where + ".role must be system, developer, user, assistant or tool, got " + role);
            }
            JsonNode content = m.get("content");
            String text;
            if (content == null || content.isNull()) {
                text = "";
            } else if (content.isTextual()) {
                text = content.textValue();
            } else if (content.isArray()) {
                StringBuilder b = new StringBuilder();
                for (JsonNode part : content) {
                    if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                        throw ApiError.badParam(where + ".content", "only text content parts are supported ({\"type\": \"text\", \"text\": ...})");
                    }
                    b.append(part.get("text").textValue());
                }
                text = b.toString();
            } else {
                throw ApiError.badParam(where + ".content", where + ".content must be a string or an array of text parts, got " + content);
            }
            out.add(new ChatTemplate.Message(role.textValue(), text));
        }
        return out;
    }

    private static void sendJson(ServerResponse res, int status, JsonNode body) {
        try {
            res.status(Status.create(status)).header(HeaderNames.CONTENT_TYPE, "application/json")
                    .send(JSON.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void sendError(ServerResponse res, ApiError e) {
        if (res.isSent()) return;
        sendJson(res, e.status(), e.body());
    }
}
