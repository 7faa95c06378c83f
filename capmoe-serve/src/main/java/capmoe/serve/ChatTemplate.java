package capmoe.serve;

import capmoe.files.JsonFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns chat messages into the prompt text. With a {@code chat_template} in the checkpoint's
 * tokenizer_config.json it is rendered as transformers' {@code apply_chat_template} does
 * (transformers/utils/chat_template_utils.py, {@code _compile_jinja_template}: trim_blocks and
 * lstrip_blocks on, {@code raise_exception} defined; variables {@code messages},
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}), by HubSpot's Jinjava. Without
 * one, the plain fallback writes each message as {@code "role: content\n\n"} and ends with
 * {@code "assistant:"}.
 */
public final class ChatTemplate {

    /** One chat message. */
    public record Message(String role, String content) { }

    private final String template;   // null = plain fallback
    private final String bosToken, eosToken;
    private final Jinjava jinja;

    private ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        if (template == null) {
            this.jinja = null;
        } else {
            this.jinja = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
            jinja.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                    ChatTemplate.class, "raiseException", String.class));
        }
    }

    /** A template given as text (null = the plain fallback). */
    public static ChatTemplate of(String template, String bosToken, String eosToken) {
        return new ChatTemplate(template, bosToken == null ? "" : bosToken, eosToken == null ? "" : eosToken);
    }

    /** The checkpoint's template: tokenizer_config.json's {@code chat_template} (a string, or a list whose "default" entry is used). */
    public static ChatTemplate read(Path modelDir) {
        Path file = modelDir.resolve("tokenizer_config.json");
        if (!Files.exists(file)) return of(null, null, null);
        JsonNode c = JsonFiles.read(file);
        if (c == null || !c.isObject()) throw new IllegalArgumentException(file + " is not a JSON object");
        JsonNode t = c.get("chat_template");
        String text = null;
        if (t != null && t.isTextual()) {
            text = t.textValue();
        } else if (t != null && t.isArray()) {
            for (JsonNode named : t) if ("default".equals(named.path("name").asText())) text = named.path("template").asText(null);
        }
        return of(text, token(c.get("bos_token")), token(c.get("eos_token")));
    }

    private static String token(JsonNode n) {
        if (n == null || n.isNull()) return null;
        return n.isTextual() ? n.textValue() : n.path("content").asText(null);
    }

    /** Whether the checkpoint had no template and the plain fallback is used. */
    public boolean plain() { return template == null; }

    /**
     * The prompt text for {@code messages}, ending where the assistant's reply starts. A template
     * that fails (raise_exception, a syntax error) is the request's fault: 400 with Jinjava's message.
     */
    public String render(List<Message> messages) {
        if (template == null) {
            StringBuilder b = new StringBuilder();
            for (Message m : messages) b.append(m.role()).append(": ").append(m.content()).append("\n\n");
            return b.append("assistant:").toString();
        }
        List<Map<String, Object>> list = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            list.add(map);
        }
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", list);
        vars.put("add_generation_prompt", true);
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        RenderResult r = jinja.renderForResult(template, vars);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                String why = e.getMessage();
                // raise_exception's message is the template's own words: find it under Jinjava's wrapping
                for (Throwable t = e.getException(); t != null; t = t.getCause()) {
                    if (t instanceof TemplateException) why = t.getMessage();
                }
                throw ApiError.badParam("messages", "the chat template failed: " + why);
            }
        }
        return r.getOutput();
    }

    /** transformers' {@code raise_exception} for templates. */
    public static String raiseException(String message) {
        throw new TemplateException(message);
    }

    /** What a template raised. */
    static final class TemplateException extends RuntimeException {
        TemplateException(String message) { super(message); }
    }
}
