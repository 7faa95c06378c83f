package capmoe.weights;

import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded fuzzing of the safetensors reader: random files, then mutations of a real checkpoint's
 * file (its header's bytes, its JSON values, its length field, truncation). Every case must end
 * in a correct load or one clear error (IllegalArgumentException naming the file), never another
 * exception type. A failing case prints its seed and index to reproduce it.
 */
class SafeTensorsFuzzTest {
    static final long SEED = 20261130L;
    static final int RANDOM_CASES = 1000;
    static final int MUTATED_CASES = 3000;

    @Test
    void everyRandomOrMutatedFileLoadsOrFailsWithOneClearError() throws Exception {
        byte[] real = Files.readAllBytes(Shared.require("fixtures/hf/olmoe/model.safetensors"));
        long headerLen = ByteBuffer.wrap(real).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        String header = new String(real, 8, (int) headerLen, StandardCharsets.UTF_8);
        SplittableRandom rnd = new SplittableRandom(SEED);
        int loaded = 0, rejected = 0;
        for (int i = 0; i < RANDOM_CASES + MUTATED_CASES; i++) {
            byte[] file = i < RANDOM_CASES ? randomFile(rnd) : mutate(real, header, rnd);
            switch (check(file, i)) {
                case 0 -> loaded++;
                default -> rejected++;
            }
        }
        System.out.printf("SafeTensorsFuzzTest: %d cases (seed %d): %d loaded, %d rejected with a clear error%n",
                loaded + rejected, SEED, loaded, rejected);
        assertEquals(RANDOM_CASES + MUTATED_CASES, loaded + rejected);
        assertTrue(loaded > 0 && rejected > 0, "the mutations reach both outcomes: " + loaded + " loaded, " + rejected + " rejected");
        // the unmutated file loads
        assertEquals(0, check(real, -1));
    }

    /** 0 = loaded, 1 = rejected with IllegalArgumentException; anything else fails the test. */
    static int check(byte[] bytes, int index) {
        Path path = Path.of("fuzz-" + index + ".safetensors");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(Math.max(1, bytes.length));
            MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
            SafeTensorsFile f = SafeTensorsFile.parse(path, seg.asSlice(0, bytes.length));
            for (Tensor t : f.tensors().values()) {
                // a loaded tensor's bytes lie inside the file
                assertTrue(t.data().byteSize() <= bytes.length, "case " + index + ": tensor " + t.name() + " exceeds the file");
            }
            return 0;
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith("invalid safetensors file " + path), "case " + index + ": " + e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), "case " + index + ": one line: " + e.getMessage());
            return 1;
        } catch (Throwable t) {
            fail("case " + index + " (seed " + SEED + "): " + t.getClass().getName() + " instead of a clear error: " + t.getMessage(), t);
            return 2;
        }
    }

    static byte[] randomFile(SplittableRandom rnd) {
        int kind = rnd.nextInt(3);
        if (kind == 0) {   // random bytes
            byte[] b = new byte[rnd.nextInt(64)];
            for (int i = 0; i < b.length; i++) b[i] = (byte) rnd.nextInt(256);
            return b;
        }
        // a plausible length field with random JSON-ish text
        String[] atoms = {"{", "}", "[", "]", ":", ",", "\"dtype\"", "\"F32\"", "\"BF16\"", "\"shape\"", "\"data_offsets\"", "\"t\"",
                "0", "1", "-1", "2.5", "1e300", "null", "true", "\"__metadata__\"", "\"x\"", "18446744073709551615"};
        StringBuilder s = new StringBuilder();
        int n = 1 + rnd.nextInt(40);
        for (int i = 0; i < n; i++) s.append(atoms[rnd.nextInt(atoms.length)]);
        byte[] json = s.toString().getBytes(StandardCharsets.UTF_8);
        long len = kind == 1 ? json.length : rnd.nextLong();
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + rnd.nextInt(32)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(len).put(json);
        return b.array();
    }

    static byte[] mutate(byte[] real, String header, SplittableRandom rnd) {
        switch (rnd.nextInt(5)) {
            case 0 -> {   // flip bytes anywhere in the header
                byte[] b = real.clone();
                int flips = 1 + rnd.nextInt(4);
                for (int i = 0; i < flips; i++) b[8 + rnd.nextInt(header.length())] = (byte) rnd.nextInt(256);
                return b;
            }
            case 1 -> {   // replace a number in the JSON with another value
                String[] values = {"-1", "0", "1", "7", "1.5", "-0.0", "1e30", "9223372036854775807", "18446744073709551615",
                        "null", "\"3\"", "[]", "{}", "true"};
                String h = replaceNth(header, "\\d+", rnd.nextInt(40), values[rnd.nextInt(values.length)]);
                return withHeader(real, header.length(), h, rnd.nextBoolean());
            }
            case 2 -> {   // replace a string (dtype, key) with another
                String[] values = {"\"F64\"", "\"I8\"", "\"BF16\"", "\"F16\"", "\"\"", "\"dtype\"", "\"shape\"", "\"__metadata__\"", "1"};
                String h = replaceNth(header, "\"[A-Za-z0-9_.]+\"", rnd.nextInt(60), values[rnd.nextInt(values.length)]);
                return withHeader(real, header.length(), h, rnd.nextBoolean());
            }
            case 3 -> {   // truncate the file
                return Arrays.copyOf(real, rnd.nextInt(real.length));
            }
            default -> {  // a wrong length field
                byte[] b = real.clone();
                long len = switch (rnd.nextInt(4)) {
                    case 0 -> rnd.nextLong();
                    case 1 -> -1L;
                    case 2 -> header.length() + 1 + rnd.nextInt(1000);
                    default -> rnd.nextInt(header.length());
                };
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, len);
                return b;
            }
        }
    }

    /** The file with a new header; keepLength: the old length field (padding or cutting the new header to fit). */
    static byte[] withHeader(byte[] real, int oldLen, String header, boolean keepLength) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        if (keepLength) {
            byte[] fit = Arrays.copyOf(h, oldLen);
            for (int i = h.length; i < oldLen; i++) fit[i] = ' ';
            h = fit;
        }
        byte[] data = Arrays.copyOfRange(real, 8 + oldLen, real.length);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        return b.array();
    }

    static String replaceNth(String s, String regex, int n, String with) {
        var m = java.util.regex.Pattern.compile(regex).matcher(s);
        int i = 0;
        while (m.find()) {
            if (i++ == n) return s.substring(0, m.start()) + with + s.substring(m.end());
        }
        return s;
    }

    @Test
    void aHeaderLengthAboveLongMaxIsPrintedUnsigned() {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-2L).putLong(0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(16);
            MemorySegment.copy(b.array(), 0, seg, ValueLayout.JAVA_BYTE, 0, 16);
            SafeTensorsFile.parse(Path.of("x.safetensors"), seg);
            fail("accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("header length 18446744073709551614 does not fit the file size 16"), e.getMessage());
        }
    }
}
