package crossings.flink;

import java.io.IOException;
import java.io.Serializable;
import java.io.StringWriter;
import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One pass over a raw crossing payload: the typed fields later stages need, and the reason of
 * the first rule it breaks (null when valid). The rules and their order are the contract's
 * ({@code schemas/contract.py}, which derives them from the event models and the port registry).
 *
 * <p>Reasons name the field and the rule; they quote a value only where it is a code from a
 * closed list (kind, channel, port, inspection mode), never an identifier or a free value.
 */
public final class CrossingParser implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final JsonFactory JSON = new JsonFactory();
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** A JSON value's type as the contract names it. */
    enum JsonType { STRING, INTEGER, NUMBER, BOOLEAN, NULL, OBJECT, ARRAY }

    /** The result of one parse: a dead letter has a reason, a valid event its typed fields. */
    public static final class Parsed {
        public String reason;
        public String eventId;
        public String kind;
        public String portCode;
        public String direction;
        public String channelType;
        /** released_at in epoch ms if it parses and is not beyond the skew tolerance, valid or not. */
        public long eventTimeMs;
        public int clearanceMs;
    }

    private final int schemaVersion;
    private final Set<String> kinds;
    /** Per kind: its fields' indexes in model order, membership by index, its value checks in order. */
    private final Map<String, int[]> fieldsOfKind = new HashMap<>();
    private final Map<String, boolean[]> isFieldOfKind = new HashMap<>();
    private final Map<String, int[]> checksOfKind = new HashMap<>();
    private final Map<String, Integer> index = new HashMap<>();
    private final String[] names;
    private final JsonType[] types;
    private final String[] checks;
    private final int[] checkOrder;
    private final Map<String, Set<String>> enums = new HashMap<>();
    private final Map<String, Set<String>> channels = new HashMap<>();
    private final Map<String, Set<String>> portKinds = new HashMap<>();
    private final Map<String, String> portModes = new HashMap<>();
    private final Pattern lane;
    private final long maxClearanceMicros;
    private final double maxWeightKg;
    private final long skewToleranceMs;

    public CrossingParser(String contractJson, long skewToleranceS) {
        JsonNode contract;
        try {
            contract = MAPPER.readTree(contractJson);
        } catch (IOException e) {
            throw new IllegalArgumentException("crossing-json.contract is not JSON: " + e.getMessage(), e);
        }
        schemaVersion = contract.get("schema_version").asInt();
        kinds = new HashSet<>();
        contract.get("kinds").forEach(k -> kinds.add(k.asText()));
        JsonNode typeNode = contract.get("types");
        names = new String[typeNode.size()];
        types = new JsonType[typeNode.size()];
        checks = new String[typeNode.size()];
        int i = 0;
        for (var it = typeNode.fields(); it.hasNext(); i++) {
            var e = it.next();
            names[i] = e.getKey();
            types[i] = JsonType.valueOf(e.getValue().asText().toUpperCase());
            index.put(e.getKey(), i);
        }
        JsonNode checkNode = contract.get("checks");
        checkOrder = new int[checkNode.size()];
        for (int c = 0; c < checkNode.size(); c++) {
            int field = index.get(checkNode.get(c).get(0).asText());
            checkOrder[c] = field;
            checks[field] = checkNode.get(c).get(1).asText();
        }
        contract.get("fields").fields().forEachRemaining(e -> {
            int[] fields = new int[e.getValue().size()];
            boolean[] member = new boolean[names.length];
            for (int f = 0; f < fields.length; f++) {
                fields[f] = index.get(e.getValue().get(f).asText());
                member[fields[f]] = true;
            }
            fieldsOfKind.put(e.getKey(), fields);
            isFieldOfKind.put(e.getKey(), member);
            checksOfKind.put(e.getKey(), Arrays.stream(checkOrder).filter(c -> member[c]).toArray());
        });
        contract.get("enums").fields().forEachRemaining(e -> enums.put(e.getKey(), textSet(e.getValue())));
        contract.get("channels").fields().forEachRemaining(e -> channels.put(e.getKey(), textSet(e.getValue())));
        contract.get("ports").fields().forEachRemaining(e -> {
            portKinds.put(e.getKey(), textSet(e.getValue().get("kinds")));
            portModes.put(e.getKey(), e.getValue().get("inspection_mode").asText());
        });
        lane = Pattern.compile(contract.get("lane_pattern").asText());
        maxClearanceMicros = contract.get("max_clearance_ms").asLong() * 1000;
        maxWeightKg = contract.get("max_declared_weight_kg").asDouble();
        skewToleranceMs = skewToleranceS * 1000;
    }

    private static Set<String> textSet(JsonNode array) {
        Set<String> values = new HashSet<>();
        array.forEach(v -> values.add(v.asText()));
        return values;
    }

    /** Values of one payload's known fields, by contract index. */
    private final class Fields {
        final String[] text = new String[names.length];
        final JsonType[] type = new JsonType[names.length];
        final double[] number = new double[names.length];
        String kindText;
        JsonType kindType;
        String firstUnknown;
    }

    /** Parses `payload` received at `nowMs`; never throws. */
    public Parsed parse(byte[] payload, long nowMs) {
        Parsed out = new Parsed();
        out.eventTimeMs = Long.MIN_VALUE;
        Fields f = new Fields();
        if (payload == null || !read(payload, f)) {
            out.reason = "malformed-json: not a JSON object";
            return out;
        }
        Integer releasedIndex = index.get("released_at");
        long released = releasedIndex == null ? Long.MIN_VALUE : micros(f.text[releasedIndex]);
        if (released != Long.MIN_VALUE && Math.floorDiv(released, 1000) <= nowMs + skewToleranceMs) {
            out.eventTimeMs = Math.floorDiv(released, 1000);
        }
        out.portCode = f.text[index.get("port_code")];
        out.reason = reason(f, nowMs);
        if (out.reason == null) {
            out.eventId = f.text[index.get("event_id")];
            out.kind = f.kindText;
            out.direction = f.text[index.get("direction")];
            out.channelType = f.text[index.get("channel_type")];
            long queued = Math.floorDiv(micros(f.text[index.get("queued_at")]), 1000);
            out.clearanceMs = (int) (out.eventTimeMs - queued);
        }
        return out;
    }

    private boolean read(byte[] payload, Fields f) {
        try (JsonParser p = JSON.createParser(payload)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return false;
            }
            JsonToken token;
            while ((token = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                JsonType type = typeOf(value);
                if ("kind".equals(name)) {
                    f.kindType = type;
                    f.kindText = type == JsonType.STRING ? p.getText() : null;
                } else {
                    Integer i = index.get(name);
                    if (i == null) {
                        if (f.firstUnknown == null) {
                            f.firstUnknown = name;
                        }
                    } else {
                        f.type[i] = type;
                        if (type == JsonType.STRING) {
                            f.text[i] = p.getText();
                        } else if (type == JsonType.INTEGER || type == JsonType.NUMBER) {
                            f.number[i] = p.getDoubleValue();
                        }
                    }
                }
                if (type == JsonType.OBJECT || type == JsonType.ARRAY) {
                    p.skipChildren();
                }
            }
            return token == JsonToken.END_OBJECT && p.nextToken() == null;
        } catch (IOException | RuntimeException notJson) {
            return false;
        }
    }

    private static JsonType typeOf(JsonToken token) {
        switch (token) {
            case VALUE_STRING: return JsonType.STRING;
            case VALUE_NUMBER_INT: return JsonType.INTEGER;
            case VALUE_NUMBER_FLOAT: return JsonType.NUMBER;
            case VALUE_TRUE:
            case VALUE_FALSE: return JsonType.BOOLEAN;
            case START_OBJECT: return JsonType.OBJECT;
            case START_ARRAY: return JsonType.ARRAY;
            default: return JsonType.NULL;
        }
    }

    private String reason(Fields f, long nowMs) {
        if (f.kindType == null || f.kindType == JsonType.NULL) {
            return "missing-field: kind";
        }
        if (f.kindType != JsonType.STRING) {
            return wrongType("kind", f.kindType, JsonType.STRING);
        }
        String kind = f.kindText;
        if (!kinds.contains(kind)) {
            return "invalid-field: kind " + kind + " is not a known value";
        }
        int[] fields = fieldsOfKind.get(kind);
        for (int i : fields) {
            if (f.type[i] == null || f.type[i] == JsonType.NULL) {
                return "missing-field: " + names[i];
            }
        }
        for (int i : fields) {
            if (!typeFits(f.type[i], types[i])) {
                return wrongType(names[i], f.type[i], types[i]);
            }
        }
        for (int i : checksOfKind.get(kind)) {
            String broken = broken(i, f);
            if (broken != null) {
                return "invalid-field: " + names[i] + " " + broken;
            }
        }
        boolean[] ofKind = isFieldOfKind.get(kind);
        for (int i = 0; i < names.length; i++) {
            if (f.type[i] != null && !ofKind[i]) {
                return "unknown-field: " + names[i];
            }
        }
        if (f.firstUnknown != null) {
            return "unknown-field: " + f.firstUnknown;
        }
        String channel = f.text[index.get("channel_type")];
        if (!channels.get(kind).contains(channel)) {
            return "invalid-field: channel_type " + channel + " is not used by " + kind + " crossings";
        }
        String port = f.text[index.get("port_code")];
        if (!portKinds.containsKey(port)) {
            return "unknown-port: " + port + " is not in the port registry";
        }
        if (!portKinds.get(port).contains(kind)) {
            return "kind-not-cleared: " + port + " does not clear " + kind + " crossings";
        }
        String mode = f.text[index.get("inspection_mode")];
        if (!mode.equals(portModes.get(port))) {
            return "invalid-field: inspection_mode " + mode + " is not the mode of " + port;
        }
        long queued = micros(f.text[index.get("queued_at")]);
        long started = micros(f.text[index.get("inspection_started_at")]);
        long released = micros(f.text[index.get("released_at")]);
        if (started < queued) {
            return "timestamps-out-of-order: inspection_started_at is before queued_at";
        }
        if (released < started) {
            return "timestamps-out-of-order: released_at is before inspection_started_at";
        }
        if (released > queued + maxClearanceMicros) {
            return "clearance-over-24h: released_at - queued_at is more than 24 h";
        }
        if (Math.floorDiv(released, 1000) > nowMs + skewToleranceMs) {
            return "clock-skew: released_at is more than " + skewToleranceMs / 1000
                    + " s ahead of processing time";
        }
        return null;
    }

    private static boolean typeFits(JsonType actual, JsonType wanted) {
        return actual == wanted || (wanted == JsonType.NUMBER && actual == JsonType.INTEGER);
    }

    private static String wrongType(String name, JsonType actual, JsonType wanted) {
        return "invalid-field: " + name + " is " + article(actual) + ", the wrong JSON type (expected "
                + article(wanted) + ")";
    }

    private static String article(JsonType type) {
        String name = type.name().toLowerCase();
        return (type == JsonType.INTEGER || type == JsonType.OBJECT || type == JsonType.ARRAY ? "an " : "a ") + name;
    }

    /** Why field `i`'s value is out of its domain, null when it is in. */
    private String broken(int i, Fields f) {
        String text = f.text[i];
        switch (checks[i]) {
            case "uuid":
                return isUuid(text) ? null : "is not a UUID";
            case "version":
                return f.number[i] == schemaVersion ? null
                        : "is not a supported schema_version (" + schemaVersion + ")";
            case "lane":
                return lane.matcher(text).matches() ? null : "is not a lane id";
            case "enum":
                return enums.get(names[i]).contains(text) ? null : "is not a known value";
            case "ref":
                return isRef(text) ? null : "is not a ref (32 hex)";
            case "timestamp":
                return micros(text) != Long.MIN_VALUE ? null : "is not an ISO-8601 UTC time ending in Z";
            case "weight":
                double kg = f.number[i];
                return kg > 0 && kg <= maxWeightKg ? null
                        : "is not a weight in (0, " + (long) maxWeightKg + "] kg";
            default:
                throw new IllegalStateException("no rule " + checks[i]);
        }
    }

    /** 8-4-4-4-12 hex digits, either case. */
    static boolean isUuid(String text) {
        if (text.length() != 36) {
            return false;
        }
        for (int k = 0; k < 36; k++) {
            char c = text.charAt(k);
            boolean dash = k == 8 || k == 13 || k == 18 || k == 23;
            if (dash ? c != '-' : !(isHex(c) || (c >= 'A' && c <= 'F'))) {
                return false;
            }
        }
        return true;
    }

    /** 32 lowercase hex digits, as schemas.privacy.Pseudonymiser writes a ref. */
    static boolean isRef(String text) {
        if (text.length() != 32) {
            return false;
        }
        for (int k = 0; k < 32; k++) {
            char c = text.charAt(k);
            if (!isHex(c)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isHex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }

    /**
     * Microseconds since the epoch of 'YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z' (fraction truncated to
     * microseconds), Long.MIN_VALUE when the text is not such a time.
     */
    static long micros(String text) {
        if (text == null) {
            return Long.MIN_VALUE;
        }
        int n = text.length();
        if (n < 20 || text.charAt(4) != '-' || text.charAt(7) != '-' || text.charAt(10) != 'T'
                || text.charAt(13) != ':' || text.charAt(16) != ':' || text.charAt(n - 1) != 'Z') {
            return Long.MIN_VALUE;
        }
        int fractionDigits = n - 20;
        if (fractionDigits == 1 || fractionDigits > 10 || (fractionDigits > 0 && text.charAt(19) != '.')) {
            return Long.MIN_VALUE;
        }
        int year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
        int hour = digits(text, 11, 2), minute = digits(text, 14, 2), second = digits(text, 17, 2);
        int fraction = fractionDigits == 0 ? 0 : digits(text, 20, fractionDigits - 1);
        if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || fraction < 0) {
            return Long.MIN_VALUE;
        }
        long epochSecond;
        try {
            epochSecond = LocalDateTime.of(year, month, day, hour, minute, second).toEpochSecond(ZoneOffset.UTC);
        } catch (DateTimeException notADate) {
            return Long.MIN_VALUE;
        }
        long micro = fraction;
        for (int k = fractionDigits - 1; k < 6; k++) {
            micro *= 10;
        }
        for (int k = 6; k < fractionDigits - 1; k++) {
            micro /= 10;
        }
        return epochSecond * 1_000_000 + micro;
    }

    /** The non-negative number written by `length` ASCII digits at `from`, -1 if any is not a digit. */
    private static int digits(String text, int from, int length) {
        int value = 0;
        for (int k = from; k < from + length; k++) {
            char c = text.charAt(k);
            if (c < '0' || c > '9') {
                return -1;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    /**
     * A dead letter's payload without clear identifiers: a JSON object keeps its fields, but the
     * value of every field named like an identifier ({@code *_ref}, {@code document*},
     * {@code passport*}, {@code plate*}, {@code vehicle*}, {@code licence*}) and of every field the
     * models do not have becomes its ref ({@link Refs}): a string's own, any other value's compact
     * JSON text's; a null stays null, and a value that normalises to nothing is dropped. A ref
     * field that already holds a ref keeps it. The namespace follows the name: plate and vehicle
     * fields are plates, licence fields licences, a driver's or truck's subject_ref a licence,
     * anything else a document, so a clear document number under any name gets the ref its
     * producer should have written. Anything else that is not a JSON object is dropped (null).
     */
    public String redact(byte[] payload, Refs refs) {
        if (payload == null) {
            return null;
        }
        try {
            JsonNode root = MAPPER.readTree(payload);
            if (root == null || !root.isObject()) {
                return null;
            }
            JsonNode kind = root.get("kind");
            boolean drives = kind != null && ("driver".equals(kind.asText()) || "truck".equals(kind.asText()));
            StringWriter out = new StringWriter(payload.length);
            try (JsonGenerator g = JSON.createGenerator(out)) {
                g.writeStartObject();
                for (var it = root.fields(); it.hasNext(); ) {
                    var e = it.next();
                    String name = e.getKey();
                    JsonNode value = e.getValue();
                    if (!identifying(name) || value.isNull() || (name.endsWith("_ref") && value.isTextual()
                            && isRef(value.textValue()))) {
                        g.writeFieldName(name);
                        MAPPER.writeTree(g, value);
                        continue;
                    }
                    String text = value.isTextual() ? value.textValue() : MAPPER.writeValueAsString(value);
                    String ref = refs.ref(namespace(name, drives), text);
                    if (ref != null) {
                        g.writeStringField(name, ref);
                    }
                }
                g.writeEndObject();
            }
            return out.toString();
        } catch (IOException | RuntimeException notJson) {
            return null;
        }
    }

    private boolean identifying(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        return lower.endsWith("_ref") || lower.startsWith("document") || lower.startsWith("passport")
                || lower.startsWith("plate") || lower.startsWith("vehicle") || lower.startsWith("licence")
                || lower.startsWith("license") || (!index.containsKey(name) && !"kind".equals(name));
    }

    /** The ref namespace of an identifier field (schemas/privacy.py NAMESPACES), by its name. */
    static String namespace(String name, boolean subjectIsDriver) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (lower.startsWith("plate") || lower.startsWith("vehicle")) {
            return "plate";
        }
        if (lower.startsWith("licence") || lower.startsWith("license")
                || (subjectIsDriver && lower.equals("subject_ref"))) {
            return "licence";
        }
        return "document";
    }
}
