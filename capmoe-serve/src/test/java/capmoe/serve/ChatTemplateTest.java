package capmoe.serve;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chat templates as transformers renders them. The expected strings were produced by jinja2 3.1 with
 * transformers' settings (trim_blocks, lstrip_blocks) from the same template and messages.
 */
class ChatTemplateTest {
    /** The Tülu-style template of OLMoE-1B-7B-0924-Instruct's tokenizer_config.json. */
    static final String TULU = "{{ bos_token }}{% for message in messages %}\n"
            + "{% if message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + '\\n' }}\n"
            + "{% elif message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + '\\n' }}\n"
            + "{% elif message['role'] == 'assistant' %}\n{% if not loop.last %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token + '\\n' }}\n"
            + "{% else %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n{% endif %}\n"
            + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>\\n' }}\n{% endif %}\n{% endfor %}";

    static final List<ChatTemplate.Message> CHAT = List.of(
            new ChatTemplate.Message("system", "Be brief."),
            new ChatTemplate.Message("user", "Hi"),
            new ChatTemplate.Message("assistant", "Hello!"),
            new ChatTemplate.Message("user", "Bye"));

    @Test
    void rendersAHuggingFaceTemplateAsTransformersDoes() {
        String out = ChatTemplate.of(TULU, "<|endoftext|>", "<|endoftext|>").render(CHAT);
        assertEquals("<|endoftext|><|system|>\nBe brief.\n\n<|user|>\nHi\n\n<|assistant|>\nHello!<|endoftext|>\n\n"
                + "<|user|>\nBye\n\n<|assistant|>\n\n", out);
    }

    @Test
    void raiseExceptionIsTheRequestsFault() {
        String strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
        ChatTemplate t = ChatTemplate.of(strict, "", "");
        assertEquals("ok", t.render(List.of(new ChatTemplate.Message("user", "x"))));
        ApiError e = assertThrows(ApiError.class, () -> t.render(CHAT));
        assertEquals(400, e.status());
        assertTrue(e.getMessage().contains("Conversation must start with user"), e.getMessage());
    }

    @Test
    void withoutATemplateThePlainFallback() {
        ChatTemplate plain = ChatTemplate.of(null, null, null);
        assertTrue(plain.plain());
        assertEquals("system: Be brief.\n\nuser: Hi\n\nassistant: Hello!\n\nuser: Bye\n\nassistant:", plain.render(CHAT));
    }
}
