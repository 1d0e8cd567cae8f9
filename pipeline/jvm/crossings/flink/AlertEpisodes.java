package crossings.flink;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * ALERT_EPISODES(input => TABLE slides PARTITION BY port_code, kind, direction,
 * on_time => DESCRIPTOR(window_time), ports => '<json>'): clearance spike episodes with
 * hysteresis over the final 5-minute slides (one per key and minute, in window order).
 *
 * <p>An episode opens when the slide's p90 is above the port's threshold for 3 consecutive
 * slides (never while the port is closed for the kind), and closes after 5 consecutive slides
 * below 80 % of the threshold. A missing slide (no crossings in 5 minutes) counts as below, and
 * so does a slide of fewer than {@code min_crossings}. Each episode gives one {@code raised} and
 * one {@code resolved} row; severity is {@code critical} once the p90 has exceeded twice the
 * threshold. A timer at the next slide catches up missing slides as the watermark passes them.
 *
 * <p>{@code ports}: {"min_crossings": 5, "ports": {"CODE": {"kind": {"threshold_s": 1800,
 * "hours": ["06:30", "00:00"] or null}}}}, local time Asia/Shanghai, a close of 00:00 = 24:00.
 */
@FunctionHint(output = @DataTypeHint("ROW<episode_id STRING, state STRING, severity STRING, started_at STRING, "
        + "ended_at STRING, peak_p90_s DOUBLE, threshold_s INT>"))
public class AlertEpisodes extends ProcessTableFunction<Row> {

    static final int RAISE_AFTER_SLIDES = 3;
    static final int RESOLVE_AFTER_SLIDES = 5;
    static final double RESOLVE_BELOW_FRACTION = 0.8;
    static final int CRITICAL_FACTOR = 2;
    static final long SLIDE_MS = 60_000;
    static final long NONE = Long.MIN_VALUE;
    static final UUID EPISODE_NAMESPACE = UUID.fromString("6f1c7a52-3c1e-4b8e-9a57-2f0d3e1b9c44");
    static final ZoneId SHENZHEN = ZoneId.of("Asia/Shanghai");
    static final DateTimeFormatter ISO = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'");

    /** Hysteresis state of one port, kind and direction; times in epoch ms, NONE = unset. */
    public static class Tracker {
        public String key;
        public int threshold;
        public long lastEnd = NONE;
        public long aboveSince = NONE;
        public int aboveRun;
        public double runPeak;
        public int belowRun;
        public long belowSince = NONE;
        public String episodeId;
        public long episodeStarted = NONE;
        public double episodePeak;
    }

    private transient String portsJson;
    private transient Map<String, Integer> thresholds;
    private transient Map<String, LocalTime[]> hours;
    private transient int minCrossings;

    public void eval(
            Context ctx,
            @StateHint Tracker tracker,
            @ArgumentHint(value = {ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}, name = "input")
                    Row slide,
            @ArgumentHint(name = "ports") String ports) {
        configure(ports);
        String port = slide.getFieldAs("port_code");
        String kind = slide.getFieldAs("kind");
        if (tracker.key == null) {
            tracker.key = port + "/" + kind + "/" + slide.getFieldAs("direction");
            tracker.threshold = thresholds.get(port + "/" + kind);
        }
        long windowEnd = slide.<LocalDateTime>getFieldAs("window_end").toInstant(ZoneOffset.UTC).toEpochMilli();
        double p90 = slide.<Long>getFieldAs("crossings") < minCrossings ? 0.0 : slide.<Double>getFieldAs("p90_s");
        catchUp(tracker, windowEnd - SLIDE_MS);
        apply(tracker, windowEnd, isOpen(port, kind, windowEnd) ? p90 : null);
        scheduleNext(ctx, tracker);
    }

    public void onTimer(OnTimerContext ctx, Tracker tracker) {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        // slides up to the watermark are known to be missing; at most enough to resolve
        long horizon = time.time() + (RESOLVE_AFTER_SLIDES - 1) * SLIDE_MS;
        catchUp(tracker, Math.min(time.currentWatermark(), horizon));
        scheduleNext(ctx, tracker);
    }

    private void scheduleNext(Context ctx, Tracker tracker) {
        boolean watching = tracker.episodeId != null || tracker.aboveRun > 0;
        if (watching && tracker.lastEnd != NONE) {
            ctx.timeContext(Long.class).registerOnTime("next-slide", tracker.lastEnd + SLIDE_MS);
        } else {
            ctx.timeContext(Long.class).clearTimer("next-slide");
        }
    }

    /** Counts the slides missing up to `until` (inclusive) as below the threshold. */
    private void catchUp(Tracker tracker, long until) {
        if (tracker.lastEnd == NONE) {
            return;
        }
        long last = tracker.lastEnd;
        long missing = (until - last) / SLIDE_MS;
        for (long step = 1; step <= Math.min(missing, RESOLVE_AFTER_SLIDES); step++) {
            apply(tracker, last + step * SLIDE_MS, 0.0);
        }
        if (missing > RESOLVE_AFTER_SLIDES) {
            tracker.lastEnd = until;
        }
    }

    /** One slide; `p90` null = the port is closed, which never counts as above. */
    private void apply(Tracker tracker, long windowEnd, Double p90) {
        tracker.lastEnd = windowEnd;
        boolean above = p90 != null && p90 > tracker.threshold;
        if (tracker.episodeId == null) {
            if (!above) {
                tracker.aboveRun = 0;
                tracker.aboveSince = NONE;
                tracker.runPeak = 0.0;
                return;
            }
            tracker.aboveRun++;
            if (tracker.aboveSince == NONE) {
                tracker.aboveSince = windowEnd;
            }
            tracker.runPeak = Math.max(tracker.runPeak, p90);
            if (tracker.aboveRun < RAISE_AFTER_SLIDES) {
                return;
            }
            tracker.episodeId = uuid5(EPISODE_NAMESPACE, tracker.key + "/" + iso(tracker.aboveSince)).toString();
            tracker.episodeStarted = tracker.aboveSince;
            tracker.episodePeak = tracker.runPeak;
            tracker.aboveRun = 0;
            tracker.aboveSince = NONE;
            tracker.runPeak = 0.0;
            tracker.belowRun = 0;
            emit(tracker, "raised", null);
            return;
        }
        double value = p90 == null ? 0.0 : p90;
        tracker.episodePeak = Math.max(tracker.episodePeak, value);
        if (value < RESOLVE_BELOW_FRACTION * tracker.threshold) {
            tracker.belowRun++;
            if (tracker.belowSince == NONE) {
                tracker.belowSince = windowEnd;
            }
        } else {
            tracker.belowRun = 0;
            tracker.belowSince = NONE;
        }
        if (tracker.belowRun < RESOLVE_AFTER_SLIDES) {
            return;
        }
        emit(tracker, "resolved", iso(tracker.belowSince));
        tracker.episodeId = null;
        tracker.episodeStarted = NONE;
        tracker.episodePeak = 0.0;
        tracker.belowRun = 0;
        tracker.belowSince = NONE;
    }

    private void emit(Tracker tracker, String state, String endedAt) {
        String severity = tracker.episodePeak > CRITICAL_FACTOR * tracker.threshold ? "critical" : "warning";
        collect(Row.of(tracker.episodeId, state, severity, iso(tracker.episodeStarted), endedAt,
                tracker.episodePeak, tracker.threshold));
    }

    private boolean isOpen(String port, String kind, long atMs) {
        LocalTime[] open = hours.get(port + "/" + kind);
        if (open == null) {
            return true;
        }
        LocalTime local = Instant.ofEpochMilli(atMs).atZone(SHENZHEN).toLocalTime();
        return !local.isBefore(open[0]) && (open[1].equals(LocalTime.MIDNIGHT) || local.isBefore(open[1]));
    }

    private void configure(String ports) {
        if (ports.equals(portsJson)) {
            return;
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(ports);
        } catch (IOException e) {
            throw new IllegalArgumentException("ALERT_EPISODES: ports is not JSON", e);
        }
        thresholds = new HashMap<>();
        hours = new HashMap<>();
        minCrossings = root.get("min_crossings").asInt();
        root.get("ports").fields().forEachRemaining(port -> port.getValue().fields().forEachRemaining(kind -> {
            String key = port.getKey() + "/" + kind.getKey();
            thresholds.put(key, kind.getValue().get("threshold_s").asInt());
            JsonNode open = kind.getValue().get("hours");
            if (open != null && !open.isNull()) {
                hours.put(key, new LocalTime[] {LocalTime.parse(open.get(0).asText()), LocalTime.parse(open.get(1).asText())});
            }
        }));
        portsJson = ports;
    }

    static String iso(long epochMs) {
        return ISO.format(Instant.ofEpochMilli(epochMs).atOffset(ZoneOffset.UTC));
    }

    /** A name-based UUID, version 5 (SHA-1), as Python's uuid.uuid5. */
    static UUID uuid5(UUID namespace, String name) {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer ns = ByteBuffer.allocate(16).putLong(namespace.getMostSignificantBits())
                .putLong(namespace.getLeastSignificantBits());
        sha1.update(ns.array());
        byte[] hash = sha1.digest(name.getBytes(StandardCharsets.UTF_8));
        hash[6] = (byte) ((hash[6] & 0x0f) | 0x50);
        hash[8] = (byte) ((hash[8] & 0x3f) | 0x80);
        ByteBuffer bytes = ByteBuffer.wrap(hash, 0, 16);
        return new UUID(bytes.getLong(), bytes.getLong());
    }
}
