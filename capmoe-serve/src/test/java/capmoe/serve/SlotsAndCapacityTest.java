package capmoe.serve;

import capmoe.routing.Policy;
import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Capacity per batched step, the bounded queue, and slots freed by clients that go away, over real
 * HTTP against olmoe-tiny servers on ephemeral ports.
 */
class SlotsAndCapacityTest {

    static Path model() {
        return Shared.require("models/olmoe-tiny");
    }

    /** 16 concurrent requests under score@1.0 with decode capacity on (and off): all complete; decode steps drop only when on. */
    @Test
    void underACapacityPolicyEveryRequestCompletes() throws Exception {
        for (boolean decodeCapacity : new boolean[] {true, false}) {
            ServeOptions o = ServeOptions.defaults(model()).withPolicy(Policy.parse("score@1.0"), decodeCapacity).withSlots(16, 64, 64);
            try (OpenAiServer server = OpenAiServer.start(o);
                 ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<Http.Reply>> replies = new ArrayList<>();
                for (String p : OpenAiServerTest.PROMPTS) {
                    replies.add(pool.submit(() -> Http.post(server.url() + "/v1/completions",
                            OpenAiServerTest.completion(p, 20, ",\"ignore_eos\":true"))));
                }
                for (Future<Http.Reply> f : replies) {
                    Http.Reply r = f.get();
                    assertEquals(200, r.status(), r.raw());
                    assertEquals("length", r.body().get("choices").get(0).get("finish_reason").asText());
                    assertEquals(20, r.body().get("usage").get("completion_tokens").intValue());
                }
                String m = Http.metrics(server.url());
                assertEquals(16, Http.series(m, "capmoe_requests_total{finish=\"length\"}"));
                double decodeDropped = 0, prefillDropped = 0;
                for (int layer = 0; layer < 6; layer++) {
                    decodeDropped += Http.series(m, "capmoe_moe_dropped_pairs_total{layer=\"" + layer + "\",phase=\"decode\"}");
                    prefillDropped += Http.series(m, "capmoe_moe_dropped_pairs_total{layer=\"" + layer + "\",phase=\"prefill\"}")
                            + Http.series(m, "capmoe_moe_dropped_pairs_total{layer=\"" + layer + "\",phase=\"mixed\"}");
                }
                assertTrue(prefillDropped > 0, "score@1.0 drops pairs in prefill steps");
                if (decodeCapacity) {
                    assertTrue(decodeDropped > 0, "decode capacity on: decode steps of 16 tokens drop pairs (C = ceil(4*16/32) = 2)");
                } else {
                    assertEquals(0, decodeDropped, "decode capacity off: decode steps run under none");
                }
            }
        }
    }

    /**
     * One slot, one queue place: a third request gets 429; a streaming client that hangs up frees its
     * slot at the next step, so the queued request starts; the server keeps serving.
     */
    @Test
    void fullQueueAnswers429AndAClientThatHangsUpFreesItsSlot() throws Exception {
        ServeOptions o = ServeOptions.defaults(model()).withSlots(1, 16, 1);
        try (OpenAiServer server = OpenAiServer.start(o)) {
            String body = OpenAiServerTest.completion("The sea", 1900, ",\"stream\":true,\"ignore_eos\":true");
            try (RawStream first = new RawStream(server.port(), body)) {
                first.awaitData();                                     // running in the only slot
                try (RawStream second = new RawStream(server.port(), body)) {
                    awaitSeries(server, "capmoe_requests_waiting", 1);  // queued
                    Http.Reply third = Http.post(server.url() + "/v1/completions", OpenAiServerTest.completion("Hello", 4, ""));
                    assertEquals(429, third.status(), third.raw());
                    assertEquals("rate_limit_error", third.body().get("error").get("type").asText());

                    first.close();                                     // hang up mid-stream
                    second.awaitData();                                // ... so the queued one got the slot
                    assertEquals(1, Http.series(Http.metrics(server.url()), "capmoe_requests_total{finish=\"cancelled\"}"));
                }
                awaitSeries(server, "capmoe_requests_running", 0);
                String m = Http.metrics(server.url());
                assertEquals(2, Http.series(m, "capmoe_requests_total{finish=\"cancelled\"}"));
                assertTrue(Http.series(m, "capmoe_generation_tokens_total") < 2 * 1900, "both stopped early");
                assertEquals(0, Http.series(m, "capmoe_kv_tokens_used"));
            }
            Http.Reply after = Http.post(server.url() + "/v1/completions", OpenAiServerTest.completion("Hello", 4, ""));
            assertEquals(200, after.status(), after.raw());
            JsonNode usage = after.body().get("usage");
            assertEquals(usage.get("prompt_tokens").intValue() + usage.get("completion_tokens").intValue(), usage.get("total_tokens").intValue());
        }
    }

    static void awaitSeries(OpenAiServer server, String series, double value) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (Http.series(Http.metrics(server.url()), series) != value) {
            if (System.nanoTime() > deadline) throw new AssertionError(series + " did not reach " + value + " in 30 s");
            Thread.sleep(20);
        }
    }

    /** A streaming request on a plain socket, so the test decides exactly when the client goes away. */
    static final class RawStream implements AutoCloseable {
        private final Socket socket;
        private final BufferedReader in;

        RawStream(int port, String body) throws IOException {
            socket = new Socket("127.0.0.1", port);
            socket.setSoTimeout(60_000);
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                    + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        }

        /** Reads until the first {@code data:} event. */
        void awaitData() throws IOException {
            String line;
            while ((line = in.readLine()) != null) if (line.startsWith("data: {")) return;
            throw new AssertionError("the stream ended before any data event");
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
