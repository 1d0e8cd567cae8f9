package crossings.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.TableFunction;

/**
 * {@code WINDOW_STARTS(event_time, n)}: the starts of the {@code n} one-minute-sliding windows
 * of {@code n} minutes that hold {@code event_time}, one row each: its minute and the
 * {@code n - 1} minutes before. The operator that reads an event emits its windows, so they
 * need no task of their own (a union of {@code n} projections would be one, each copy
 * serialised to it).
 */
@FunctionHint(
        input = {@DataTypeHint(value = "TIMESTAMP(3)", bridgedTo = TimestampData.class), @DataTypeHint("INT")},
        output = @DataTypeHint(value = "TIMESTAMP(3)", bridgedTo = TimestampData.class))
public class WindowStarts extends TableFunction<TimestampData> {

    private static final long MINUTE_MS = 60_000L;

    public void eval(TimestampData eventTime, Integer windowMinutes) {
        if (eventTime == null || windowMinutes == null) {
            return;
        }
        long minute = Math.floorDiv(eventTime.getMillisecond(), MINUTE_MS) * MINUTE_MS;
        for (int k = 0; k < windowMinutes; k++) {
            collect(TimestampData.fromEpochMillis(minute - k * MINUTE_MS));
        }
    }
}
