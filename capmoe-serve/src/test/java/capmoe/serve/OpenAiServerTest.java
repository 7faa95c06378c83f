package capmoe.serve;

import capmoe.model.CausalLM;
import capmoe.model.Generator;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.testing.Shared;
import capmoe.tokenizer.HfTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server over real HTTP (the JDK's HttpClient) on an ephemeral port, with the trained olmoe-tiny.
 * Under {@code none} the server must give exactly {@link Generator#generate}'s greedy tokens (what
 * {@code ./capmoe generate} prints), alone or batched with 15 other requests, with chunked prefill
 * mixed into decode steps: a row's result does not depend on the other rows of its batch.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OpenAiServerTest {
    static final String[] PROMPTS = {
            "The old house", "It was a dark and stormy night; the rain fell in torrents", "Once upon a time",
            "She opened the letter and read", "The captain looked at the sea", "In the morning the village",
            "He said that he would never", "The king had three sons, and the youngest", "A long way from home,",
            "The doctor came in and", "Why do you", "There was nothing left in the little shop but",
            "When the war was over the soldiers", "My dear friend,", "The river ran", "At last the door opened and a tall man"};

    Path modelDir;
    CausalLM reference;
    HfTokenizer tokenizer;
    OpenAiServer server;
    String base;

    @BeforeAll
    void start() {
        modelDir = Shared.require("models/olmoe-tiny");
        reference = Models.load(modelDir);
        tokenizer = HfTokenizer.load(modelDir);
        // 8 slots for 16 requests (the rest queue), 40 tokens a step: prompts are prefilled in chunks mixed with decode
        server = OpenAiServer.start(ServeOptions.defaults(modelDir).withSlots(8, 40, 64));
        base = server.url();
    }

    @AfterAll
    void stop() {
        if (server != null) server.close();
        if (reference != null) reference.close();
        if (tokenizer != null) tokenizer.close();
    }

    int[] greedy(String prompt, int maxTokens) {
        var s = new Generator.Settings(maxTokens, 0, 1, 0, reference.config().eosTokenIds());
        return Generator.generate(reference, tokenizer.encode(prompt), s, RunOptions.defaults(), null);
    }

    static String completion(String prompt, int maxTokens, String extra) {
        return "{\"model\":\"olmoe-tiny\",\"prompt\":" + Http.JSON.valueToTree(prompt) + ",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"return_token_ids\":true" + extra + "}";
    }

    static int[] ids(JsonNode choice) {
        JsonNode a = choice.get("token_ids");
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).intValue();
        return out;
    }

    @Test
    void greedyCompletionEqualsGenerateTokenForToken() {
        Http.Reply r = Http.post(base + "/v1/completions", completion(PROMPTS[1], 40, ""));
        assertEquals(200, r.status(), r.raw());
        JsonNode choice = r.body().get("choices").get(0);
        int[] expected = greedy(PROMPTS[1], 40);
        assertArrayEquals(expected, ids(choice));
        assertEquals(expected.length == 40 ? "length" : "stop", choice.get("finish_reason").asText());
        assertEquals(tokenizer.encode(PROMPTS[1]).length, r.body().get("usage").get("prompt_tokens").intValue());
        assertEquals(expected.length, r.body().get("usage").get("completion_tokens").intValue());
        assertEquals("text_completion", r.body().get("object").asText());
        assertEquals(tokenizer.decode(expected), choice.get("text").asText());
    }

    @Test
    void streamedChunksConcatenateToTheText() {
        String body = completion(PROMPTS[3], 32, "");
        Http.Reply whole = Http.post(base + "/v1/completions", body);
        List<JsonNode> chunks = Http.stream(base + "/v1/completions", completion(PROMPTS[3], 32, ",\"stream\":true"));
        StringBuilder text = new StringBuilder();
        for (JsonNode c : chunks) text.append(c.get("choices").get(0).get("text").asText());
        assertEquals(whole.body().get("choices").get(0).get("text").asText(), text.toString());
        assertTrue(chunks.size() > 2, "streamed in pieces: " + chunks.size());
        JsonNode last = chunks.getLast();
        assertEquals(whole.body().get("choices").get(0).get("finish_reason").asText(), last.get("choices").get(0).get("finish_reason").asText());
        assertEquals(whole.body().get("usage"), last.get("usage"));
        for (JsonNode c : chunks.subList(0, chunks.size() - 1)) assertTrue(c.get("choices").get(0).get("finish_reason").isNull());

        // chat: the same, through the plain template fallback (olmoe-tiny has no chat_template)
        String chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me about the sea.\"}],\"max_tokens\":24,\"temperature\":0";
        Http.Reply chatWhole = Http.post(base + "/v1/chat/completions", chat + "}");
        assertEquals(200, chatWhole.status(), chatWhole.raw());
        assertEquals("chat.completion", chatWhole.body().get("object").asText());
        List<JsonNode> chatChunks = Http.stream(base + "/v1/chat/completions", chat + ",\"stream\":true}");
        StringBuilder chatText = new StringBuilder();
        for (JsonNode c : chatChunks) chatText.append(c.get("choices").get(0).get("delta").path("content").asText(""));
        assertEquals("assistant", chatChunks.getFirst().get("choices").get(0).get("delta").get("role").asText());
        assertEquals(chatWhole.body().get("choices").get(0).get("message").get("content").asText(), chatText.toString());
        int[] expected = greedy("user: Tell me about the sea.\n\nassistant:", 24);
        assertEquals(tokenizer.decode(expected).replace("<|endoftext|>", ""), chatText.toString());
    }

    @Test
    void sixteenConcurrentRequestsEachEqualTheirSoloGreedyOutput() throws Exception {
        int maxTokens = 24;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Http.Reply>> replies = new ArrayList<>();
            for (String p : PROMPTS) replies.add(pool.submit(() -> Http.post(base + "/v1/completions", completion(p, maxTokens, ""))));
            for (int i = 0; i < PROMPTS.length; i++) {
                Http.Reply r = replies.get(i).get();
                assertEquals(200, r.status(), r.raw());
                assertArrayEquals(greedy(PROMPTS[i], maxTokens), ids(r.body().get("choices").get(0)), "request " + i + ": " + PROMPTS[i]);
            }
        }
        String m = Http.metrics(base);
        assertTrue(Http.series(m, "capmoe_steps_total{phase=\"mixed\"}") > 0, "prefill chunks were mixed with decode tokens");
        assertTrue(Http.series(m, "capmoe_moe_pairs_total{layer=\"0\",phase=\"decode\",stage=\"routed\"}") > 0);
        assertEquals(0, Http.series(m, "capmoe_moe_dropped_pairs_total{layer=\"0\",phase=\"decode\"}"), "none drops nothing");
    }

    @Test
    void sampledCompletionFollowsTheSeedAsGenerateDoes() {
        String body = "{\"prompt\":" + Http.JSON.valueToTree(PROMPTS[0]) + ",\"max_tokens\":20,\"temperature\":0.8,\"top_p\":0.9,"
                + "\"seed\":7,\"return_token_ids\":true}";
        Http.Reply r = Http.post(base + "/v1/completions", body);
        assertEquals(200, r.status(), r.raw());
        var s = new Generator.Settings(20, 0.8, 0.9, 7, reference.config().eosTokenIds());
        int[] expected = Generator.generate(reference, tokenizer.encode(PROMPTS[0]), s, RunOptions.defaults(), null);
        assertArrayEquals(expected, ids(r.body().get("choices").get(0)));
    }

    @Test
    void logprobsAreTheModelsLogSoftmax() {
        Http.Reply r = Http.post(base + "/v1/completions", completion(PROMPTS[2], 3, ",\"logprobs\":2"));
        assertEquals(200, r.status(), r.raw());
        JsonNode lp = r.body().get("choices").get(0).get("logprobs");
        int[] prompt = tokenizer.encode(PROMPTS[2]);
        float[] logits = reference.newSession(1, RunOptions.defaults()).appendLast(new int[][] {prompt})[0];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float l : logits) max = Math.max(max, l);
        for (float l : logits) sum += Math.exp(l - max);
        int first = Generator.argmax(logits);
        double expected = logits[first] - max - Math.log(sum);
        assertEquals(expected, lp.get("token_logprobs").get(0).doubleValue(), 1e-4, "fp32 logits, log-softmax in double");
        assertEquals(2, lp.get("top_logprobs").get(0).size());
        assertEquals(3, lp.get("tokens").size());

        // chat: {"content": [{"token", "logprob", "bytes", "top_logprobs"}]}, one entry per generated token
        Http.Reply chat = Http.post(base + "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":3,\"temperature\":0,\"ignore_eos\":true,\"logprobs\":true,\"top_logprobs\":2}");
        assertEquals(200, chat.status(), chat.raw());
        JsonNode content = chat.body().get("choices").get(0).get("logprobs").get("content");
        assertEquals(3, content.size());
        for (JsonNode t : content) {
            assertEquals(2, t.get("top_logprobs").size());
            assertEquals(t.get("top_logprobs").get(0).get("logprob").doubleValue(), t.get("logprob").doubleValue(), 0.0, "greedy picks the top token");
            assertTrue(t.get("bytes").isArray());
        }
    }

    @Test
    void badRequestsGetTheirStatusAndAnOpenAiErrorBodyAndTheServerKeepsServing() {
        String url = base + "/v1/completions";
        record Case(String path, String body, int status, String param) { }
        List<Case> cases = List.of(
                new Case(url, "{\"prompt\": \"hi\", ", 400, null),                                  // malformed JSON
                new Case(url, "[1, 2]", 400, null),                                                  // not an object
                new Case(url, "", 400, null),                                                        // empty body
                new Case(url, "{\"prompt\": \"hi\", \"max_tokens\": \"ten\"}", 400, "max_tokens"),   // wrong type
                new Case(url, "{\"prompt\": \"hi\", \"temperature\": \"hot\"}", 400, "temperature"),
                new Case(url, "{\"prompt\": \"hi\", \"stream\": 1}", 400, "stream"),
                new Case(url, "{\"prompt\": 42}", 400, "prompt"),
                new Case(url, "{\"prompt\": \"hi\", \"max_tokens\": 0}", 400, "max_tokens"),          // bad values
                new Case(url, "{\"prompt\": \"hi\", \"max_tokens\": 1000000}", 400, "max_tokens"),    // huge: over the context
                new Case(url, "{\"prompt\": \"hi\", \"temperature\": -1}", 400, "temperature"),
                new Case(url, "{\"prompt\": \"hi\", \"top_p\": 0}", 400, "top_p"),
                new Case(url, "{\"prompt\": \"hi\", \"n\": 2}", 400, "n"),
                new Case(url, "{\"prompt\": \"hi\", \"logprobs\": 9}", 400, "logprobs"),
                new Case(url, "{\"prompt\": \"hi\", \"stop\": [\"a\", 3]}", 400, "stop"),
                new Case(url, "{\"prompt\": [1, 99999]}", 400, "prompt"),
                new Case(url, "{\"prompt\": \"\"}", 400, "prompt"),
                new Case(url, "{\"prompt\": \"hi\", \"model\": \"gpt-4\"}", 404, "model"),
                new Case(url, "{\"prompt\": " + Http.JSON.valueToTree("word ".repeat(3000)) + "}", 400, "prompt"), // over the context
                new Case(base + "/v1/chat/completions", "{\"messages\": []}", 400, "messages"),
                new Case(base + "/v1/chat/completions", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}", 400, "messages[0].role"),
                new Case(base + "/v1/nothing", "{}", 404, null));
        for (Case c : cases) {
            Http.Reply r = Http.post(c.path(), c.body());
            String what = c.body().length() > 80 ? c.body().substring(0, 80) + "..." : c.body();
            assertEquals(c.status(), r.status(), what + " -> " + r.raw());
            assertNotNull(r.body(), what + ": JSON body");
            JsonNode e = r.body().get("error");
            assertNotNull(e, what + ": {\"error\": ...}");
            assertTrue(e.get("message").isTextual() && !e.get("message").asText().isBlank(), what);
            assertTrue(e.get("type").isTextual(), what);
            assertTrue(e.has("code"), what);
            if (c.param() == null) assertTrue(e.get("param").isNull(), what); else assertEquals(c.param(), e.get("param").asText(), what);
        }
        Http.Reply over = Http.post(url, "{\"prompt\": " + Http.JSON.valueToTree("word ".repeat(3000)) + "}");
        assertEquals("context_length_exceeded", over.body().get("error").get("code").asText());
        assertEquals(405, Http.get(base + "/v1/completions").status());
        // still serving
        Http.Reply ok = Http.post(url, completion(PROMPTS[0], 4, ""));
        assertEquals(200, ok.status(), ok.raw());
        assertArrayEquals(greedy(PROMPTS[0], 4), ids(ok.body().get("choices").get(0)));
    }

    @Test
    void modelsHealthAndMetrics() {
        Http.Reply models = Http.get(base + "/v1/models");
        assertEquals("olmoe-tiny", models.body().get("data").get(0).get("id").asText());
        assertEquals("ok", Http.get(base + "/health").body().get("status").asText());
        String m = Http.metrics(base);
        for (String name : List.of("capmoe_requests_total", "capmoe_time_to_first_token_seconds_bucket", "capmoe_time_per_output_token_seconds_count",
                "capmoe_requests_running", "capmoe_requests_waiting", "capmoe_kv_tokens_used", "capmoe_moe_expert_load_max_total",
                "capmoe_moe_device_load_max_total", "capmoe_moe_dropped_pairs_total")) {
            assertTrue(m.contains("# TYPE " + name.replaceAll("_bucket$|_count$", "")), name);
        }
        assertEquals(8, Http.series(m, "capmoe_kv_slots"));
        assertEquals(8L * 2048, (long) Http.series(m, "capmoe_kv_tokens_capacity"));
    }

    @Test
    void stopStringsEndTheTextBeforeThem() {
        Http.Reply free = Http.post(base + "/v1/completions", completion(PROMPTS[5], 40, ""));
        String text = free.body().get("choices").get(0).get("text").asText();
        assertTrue(text.length() > 12, text);
        String stop = text.substring(8, 11);
        Http.Reply stopped = Http.post(base + "/v1/completions", completion(PROMPTS[5], 40, ",\"stop\":" + Http.JSON.valueToTree(stop)));
        JsonNode c = stopped.body().get("choices").get(0);
        assertEquals(text.substring(0, text.indexOf(stop)), c.get("text").asText());
        assertEquals("stop", c.get("finish_reason").asText());
        List<JsonNode> chunks = Http.stream(base + "/v1/completions", completion(PROMPTS[5], 40, ",\"stream\":true,\"stop\":" + Http.JSON.valueToTree(stop)));
        StringBuilder streamed = new StringBuilder();
        for (JsonNode ch : chunks) streamed.append(ch.get("choices").get(0).get("text").asText());
        assertEquals(c.get("text").asText(), streamed.toString());
        assertTrue(Arrays.stream(ids(c)).count() <= 40);
    }
}
