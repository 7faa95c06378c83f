package capmoe.eval;

import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** lm-eval's wikitext preprocessing. */
class WikitextTest {

    @Test
    void detokenizerUndoesWikitextTokenization() {
        assertEquals("a 3-4 b, 1,000 and 2.5: x; y. z! w? v (inner) [b] \"q\" the dog's bone.\n== H ==\n",
                Wikitext.detokenize("a 3 @-@ 4 b , 1 @,@ 000 and 2 @.@ 5 : x ; y . z ! w ? v ( inner ) [ b ] \" q \" "
                        + "the dog 's bone.\n = = H = = \n"));
    }

    @Test
    void wordsAreCountedLikePythonsReSplit() {
        // re.split(r"\s+", " a b\n") == ['', 'a', 'b', '']
        assertEquals(4, Wikitext.words(" a b\n"));
        assertEquals(1, Wikitext.words("word"));
        assertEquals(3, Wikitext.words("x \t\n y z"));
    }

    @Test
    void wikitext2TestHasTheDocumentLevelDatasetsPages() throws IOException {
        String text = Files.readString(Shared.require("data/wikitext-2/test.txt"));
        List<String> pages = Wikitext.pages(text);
        // EleutherAI/wikitext_document_level, wikitext-2 test: 62 pages
        assertEquals(62, pages.size());
        assertTrue(pages.getFirst().startsWith(" = Robert <unk> = \n"), pages.getFirst().substring(0, 40));
        // nothing is lost but the blank line before the first title
        assertEquals(text.length() - " \n".length(), pages.stream().mapToInt(String::length).sum());
    }
}
