package capmoe.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import capmoe.files.JsonErrors;
import com.fasterxml.jackson.core.JsonProcessingException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped {@code .safetensors} file: 8-byte little-endian header length, a JSON header
 * {@code {name: {dtype, shape, data_offsets: [begin, end]}}}, then the raw bytes. The header is
 * validated completely at open (offsets inside the file, no overlaps, byte length = product of the
 * shape x dtype size), so a truncated or corrupted file fails here with the file and tensor named,
 * not later inside a kernel. Tensors are slices of the mapping: nothing is copied.
 */
public final class SafeTensorsFile {
    private static final long MAX_HEADER = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensorsFile(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public Path path() { return path; }

    public Map<String, Tensor> tensors() { return tensors; }

    public Map<String, String> metadata() { return metadata; }

    /** Maps {@code path} into {@code arena} (the mapping lives as long as the arena). */
    public static SafeTensorsFile open(Path path, Arena arena) {
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read safetensors file " + path + ": " + e.getMessage(), e);
        }
        return parse(path, file);
    }

    static SafeTensorsFile parse(Path path, MemorySegment file) {
        long size = file.byteSize();
        if (size < 8) throw bad(path, "file is " + size + " bytes, shorter than the 8-byte header length");
        long headerLen = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER || 8 + headerLen > size) {
            throw bad(path, "header length " + Long.toUnsignedString(headerLen) + " does not fit the file size " + size + " (truncated or not a safetensors file)");
        }
        byte[] headerBytes = file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(headerBytes);
        } catch (JsonProcessingException e) {
            throw bad(path, "header is not valid JSON: " + JsonErrors.oneLine(e));
        } catch (IOException e) {
            throw bad(path, "header cannot be read: " + e.getMessage());
        }
        if (header == null || !header.isObject()) throw bad(path, "header is not a JSON object");

        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        record Span(String name, long begin, long end) { }
        List<Span> spans = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                v.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String where = "tensor " + name;
            if (!v.isObject()) throw bad(path, where + ": entry is not an object");
            JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
            if (dt == null || !dt.isTextual()) throw bad(path, where + ": missing \"dtype\"");
            if (sh == null || !sh.isArray()) throw bad(path, where + ": missing \"shape\"");
            if (off == null || !off.isArray() || off.size() != 2) throw bad(path, where + ": \"data_offsets\" must be [begin, end]");
            DType dtype = DType.parse(dt.asText());
            if (dtype == null) {
                throw bad(path, where + ": unsupported dtype " + dt.asText() + " (capmoe reads F32, BF16, F16, I64, I32)");
            }
            long[] shape = new long[sh.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = sh.get(i);
                if (!d.canConvertToLong() || d.asLong() < 0) throw bad(path, where + ": bad dimension " + d + " in shape");
                if (!d.isIntegralNumber()) throw bad(path, where + ": bad dimension " + d + " in shape");
                shape[i] = d.asLong();
                try {
                    elements = Math.multiplyExact(elements, shape[i]);
                } catch (ArithmeticException overflow) {
                    throw bad(path, where + ": shape " + sh + " has more elements than a long holds");
                }
            }
            if (!off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()) {
                throw bad(path, where + ": \"data_offsets\" must be two integers, got " + off);
            }
            long begin = off.get(0).asLong(-1), end = off.get(1).asLong(-1);
            if (begin < 0 || end < begin || end > dataLen) {
                throw bad(path, where + ": data_offsets [" + begin + ", " + end + "] lie outside the data section of "
                        + dataLen + " bytes (truncated file?)");
            }
            long expectedBytes;
            try {
                expectedBytes = dtype.bytes(elements);
            } catch (ArithmeticException | IllegalArgumentException tooBig) {
                throw bad(path, where + ": " + dtype + " " + java.util.Arrays.toString(shape) + " does not fit the data section");
            }
            if (end - begin != expectedBytes) {
                throw bad(path, where + ": " + dtype + " " + java.util.Arrays.toString(shape) + " needs " + expectedBytes
                        + " bytes but data_offsets give " + (end - begin));
            }
            spans.add(new Span(name, begin, end));
            tensors.put(name, new Tensor(name, dtype, shape, file.asSlice(dataStart + begin, end - begin), path));
        }
        spans.sort(Comparator.comparingLong(Span::begin).thenComparingLong(Span::end));
        for (int i = 1; i < spans.size(); i++) {
            Span a = spans.get(i - 1), b = spans.get(i);
            if (b.begin() < a.end()) {
                throw bad(path, "tensors " + a.name() + " [" + a.begin() + ", " + a.end() + ") and " + b.name()
                        + " [" + b.begin() + ", " + b.end() + ") overlap");
            }
        }
        return new SafeTensorsFile(path, tensors, metadata);
    }

    private static IllegalArgumentException bad(Path path, String what) {
        return new IllegalArgumentException("invalid safetensors file " + path + ": " + what);
    }
}
