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
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;

/**
 * ALERT_EPISODES(input => TABLE windows PARTITION BY (port_code, kind, direction),
 * ports => '<json>'): clearance spike episodes with hysteresis over the 5-minute clearance
 * windows sliding by a minute.
 *
 * <p>The input is the updating table of the windows (window_start, p90_s, crossings per port,
 * kind and direction) that the job publishes; a window is final once the watermark passes its
 * end, as an event-time window would fire then, and an update after that is ignored (as an
 * event-time window drops a late event). Reading the published windows instead of an event-time
 * window operator keeps the job's mini-batches on processing time.
 *
 * <p>An episode opens when a final window's p90 is above the port's threshold for 3
 * consecutive slides (never while the port is closed for the kind), and closes after 5
 * consecutive slides below 80 % of the threshold. A missing slide (no crossings in 5 minutes)
 * counts as below, and so does a slide of fewer than {@code min_crossings}. Each episode gives
 * one {@code raised} and one {@code resolved} row; severity is {@code critical} once the p90 has
 * exceeded twice the threshold. Its rows are whole Alert messages (schemas/outputs.py): episode
 * type {@code clearance}, and no diversion advice (that is the forecast job's early warnings'). A timer at the next slide catches up missing slides as the
 * watermark passes them.
 *
 * <p>{@code ports}: {"min_crossings": 5, "ports": {"CODE": {"kind": {"threshold_s": 1800,
 * "hours": ["06:30", "00:00"] or null}}}}, local time Asia/Shanghai, a close of 00:00 = 24:00.
 */
@FunctionHint(output = @DataTypeHint("ROW<episode_id STRING, state STRING, severity STRING, started_at STRING, "
        + "ended_at STRING, peak_p90_s DOUBLE, threshold_s INT, episode_type STRING, advice_port_code STRING, "
        + "advice_forecast_s DOUBLE, advice_difference_min DOUBLE>"))
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

    static final long WINDOW_MS = 5 * SLIDE_MS;
    static final String NEXT_SLIDE = "next-slide";
    static final String EPISODE_TYPE = "clearance";

    /** Hysteresis state of one port, kind and direction; times in epoch ms, NONE = unset. */
    public static class Tracker {
        public String port;
        public String kind;
        public String direction;
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
            @StateHint MapView<Long, Double> pending,
            @ArgumentHint(value = {ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.SUPPORT_UPDATES}, name = "input")
                    Row window,
            @ArgumentHint(name = "ports") String ports) throws Exception {
        RowKind change = window.getKind();
        if (change == RowKind.UPDATE_BEFORE || change == RowKind.DELETE) {
            return;
        }
        configure(ports);
        if (tracker.port == null) {
            tracker.port = window.getFieldAs("port_code");
            tracker.kind = window.getFieldAs("kind");
            tracker.direction = window.getFieldAs("direction");
            tracker.threshold = thresholds.get(tracker.port + "/" + tracker.kind);
        }
        long windowEnd = window.<LocalDateTime>getFieldAs("window_start").toInstant(ZoneOffset.UTC).toEpochMilli()
                + WINDOW_MS;
        TimeContext<Long> time = ctx.timeContext(Long.class);
        Long watermark = time.currentWatermark();
        boolean isFinal = (tracker.lastEnd != NONE && windowEnd <= tracker.lastEnd)
                || (watermark != null && windowEnd - 1 <= watermark);
        if (isFinal) {
            return;
        }
        long crossings = window.<Long>getFieldAs("crossings");
        pending.put(windowEnd, crossings < minCrossings ? 0.0 : window.<Double>getFieldAs("p90_s"));
        time.registerOnTime(windowEnd - 1);
    }

    public void onTimer(OnTimerContext ctx, Tracker tracker, MapView<Long, Double> pending) throws Exception {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        if (!NEXT_SLIDE.equals(ctx.currentTimer())) {
            // the watermark passed the end of a window (timers fire in time order): it is final
            long end = time.time() + 1;
            Double p90 = pending.get(end);
            if (p90 != null) {
                pending.remove(end);
                catchUp(tracker, end - SLIDE_MS, pending);
                apply(tracker, end, isOpen(tracker.port, tracker.kind, end) ? p90 : null);
            }
        }
        long watermark = time.currentWatermark();
        if (watching(tracker) && watermark >= tracker.lastEnd + SLIDE_MS) {
            // slides up to the watermark are known to be missing; at most enough to resolve
            catchUp(tracker, Math.min(watermark, tracker.lastEnd + RESOLVE_AFTER_SLIDES * SLIDE_MS), pending);
        }
        scheduleNext(ctx, tracker);
    }

    private static boolean watching(Tracker tracker) {
        return (tracker.episodeId != null || tracker.aboveRun > 0) && tracker.lastEnd != NONE;
    }

    private void scheduleNext(Context ctx, Tracker tracker) {
        if (watching(tracker)) {
            ctx.timeContext(Long.class).registerOnTime(NEXT_SLIDE, tracker.lastEnd + SLIDE_MS);
        } else {
            ctx.timeContext(Long.class).clearTimer(NEXT_SLIDE);
        }
    }

    /**
     * Counts the slides missing up to `until` (inclusive) as below the threshold, stopping
     * before a window that has crossings and waits for its own timer.
     */
    private void catchUp(Tracker tracker, long until, MapView<Long, Double> pending) throws Exception {
        if (tracker.lastEnd == NONE) {
            return;
        }
        long last = tracker.lastEnd;
        long missing = (until - last) / SLIDE_MS;
        for (long step = 1; step <= Math.min(missing, RESOLVE_AFTER_SLIDES); step++) {
            if (pending.contains(last + step * SLIDE_MS)) {
                return;
            }
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
            tracker.episodeId = uuid5(EPISODE_NAMESPACE,
                    tracker.port + "/" + tracker.kind + "/" + tracker.direction + "/" + iso(tracker.aboveSince)).toString();
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
                tracker.episodePeak, tracker.threshold, EPISODE_TYPE, null, null, null));
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
