package crossings.flink;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.text.Normalizer;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Identifiers as refs, exactly as {@code schemas/privacy.py} writes them: HMAC-SHA256 with the
 * key {@code PRIVACY_HMAC_KEY} over "namespace:normalised identifier", the first 128 bits in
 * lowercase hex. Normalised = NFKC, then spaces, hyphens, dots and brackets removed, then upper
 * case. The key is read from the process environment, never from the job's configuration, so it
 * appears in no plan, table option, job config or REST answer; no message ever quotes it.
 */
public final class Refs {

    public static final String KEY_VARIABLE = "PRIVACY_HMAC_KEY";
    static final int KEY_MIN_BYTES = 32;
    static final int REF_HEX_CHARS = 32;

    /**
     * Python's {@code [\s\-.()]+} on a str: its \s is str.isspace(), which is Unicode's White_Space
     * (Java's \s under UNICODE_CHARACTER_CLASS) plus the separators U+001C..U+001F.
     */
    private static final Pattern FORMATTING =
            Pattern.compile("[\\s\\x1c-\\x1f\\-.()]+", Pattern.UNICODE_CHARACTER_CLASS);
    /** The placeholders pipeline/settings.py refuses: CHANGE_ME in any case, spelling or repetition. */
    private static final Pattern PLACEHOLDER =
            Pattern.compile("(change[\\W_]*me[\\W_]*)+", Pattern.CASE_INSENSITIVE);
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final Mac mac;

    private Refs(byte[] key) {
        try {
            mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JVM", e);
        }
    }

    /** Refs keyed by PRIVACY_HMAC_KEY of this process's environment. */
    public static Refs fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /** Refs keyed by PRIVACY_HMAC_KEY of {@code environment}; a missing or weak key is refused by name. */
    public static Refs fromEnvironment(Map<String, String> environment) {
        String key = environment.get(KEY_VARIABLE);
        if (key == null || key.isBlank()) {
            throw new IllegalStateException(KEY_VARIABLE + " is not set in the environment of this TaskManager: "
                    + "format crossing-json writes the identifiers of dead letters as HMAC refs with it. Set it "
                    + "where the TaskManagers start (.env for `crossings services up` and `crossings job run`, "
                    + "the deployment's secret otherwise)");
        }
        if (PLACEHOLDER.matcher(key).matches()) {
            throw new IllegalStateException(KEY_VARIABLE + " in the environment of this TaskManager is a "
                    + "placeholder, not a key: set a random one (`make setup` writes one into .env)");
        }
        byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
        if (bytes.length < KEY_MIN_BYTES) {
            throw new IllegalStateException(KEY_VARIABLE + " in the environment of this TaskManager must be at "
                    + "least " + KEY_MIN_BYTES + " bytes of random key (`make setup` writes one into .env)");
        }
        return new Refs(bytes);
    }

    /** NFKC (full-width to ASCII), formatting removed, upper case: "ab 12-34" -> "AB1234"; may be empty. */
    public static String normalise(String identifier) {
        String nfkc = Normalizer.normalize(identifier, Normalizer.Form.NFKC);
        return FORMATTING.matcher(nfkc).replaceAll("").toUpperCase(Locale.ROOT);
    }

    /** The ref of {@code identifier} in {@code namespace}; null when it normalises to nothing. */
    public String ref(String namespace, String identifier) {
        String normalised = normalise(identifier);
        if (normalised.isEmpty()) {
            return null;
        }
        byte[] digest = mac.doFinal((namespace + ":" + normalised).getBytes(StandardCharsets.UTF_8));
        char[] hex = new char[REF_HEX_CHARS];
        for (int i = 0; i < REF_HEX_CHARS / 2; i++) {
            hex[2 * i] = HEX[(digest[i] >> 4) & 0xf];
            hex[2 * i + 1] = HEX[digest[i] & 0xf];
        }
        return new String(hex);
    }
}
