package crossings.flink;

import java.util.Arrays;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.types.Row;

/**
 * CLEARANCE_STATS(clearance_ms): crossings, mean and exact p50/p90/p99 and max of a window's
 * clearance, in seconds. The accumulator is the multiset of clearance times at the precision
 * the events carry (milliseconds); accumulators merge, so the planner aggregates locally before
 * each exchange and a sliding window merges its one-minute slices instead of holding a copy of
 * each event per window. Percentiles interpolate linearly between the closest ranks (the
 * definition of Flink's PERCENTILE and of the recomputations in bench/).
 */
@FunctionHint(output = @DataTypeHint(
        "ROW<crossings BIGINT, mean_s DOUBLE, p50_s DOUBLE, p90_s DOUBLE, p99_s DOUBLE, max_s DOUBLE>"))
public class ClearanceStats extends AggregateFunction<Row, ClearanceStats.Values> {

    /** Clearance times in ms, unordered. */
    public static class Values {
        public int[] ms = new int[8];
        public int size;

        void add(int value) {
            if (size == ms.length) {
                ms = Arrays.copyOf(ms, size * 2);
            }
            ms[size++] = value;
        }

        void addAll(Values other) {
            if (size + other.size > ms.length) {
                ms = Arrays.copyOf(ms, Math.max(size + other.size, ms.length * 2));
            }
            System.arraycopy(other.ms, 0, ms, size, other.size);
            size += other.size;
        }
    }

    @Override
    public Values createAccumulator() {
        return new Values();
    }

    public void accumulate(Values acc, Integer clearanceMs) {
        if (clearanceMs != null) {
            acc.add(clearanceMs);
        }
    }

    public void merge(Values acc, Iterable<Values> others) {
        for (Values other : others) {
            acc.addAll(other);
        }
    }

    @Override
    public Row getValue(Values acc) {
        if (acc.size == 0) {
            return null;
        }
        int[] sorted = Arrays.copyOf(acc.ms, acc.size);
        Arrays.sort(sorted);
        long sum = 0;
        for (int value : sorted) {
            sum += value;
        }
        return Row.of((long) sorted.length, sum / 1000.0 / sorted.length, percentile(sorted, 0.5),
                percentile(sorted, 0.9), percentile(sorted, 0.99), sorted[sorted.length - 1] / 1000.0);
    }

    /** Exact percentile of sorted ms values, in seconds. */
    static double percentile(int[] sorted, double p) {
        double position = p * (sorted.length - 1);
        int low = (int) Math.floor(position);
        int high = Math.min(low + 1, sorted.length - 1);
        double lowS = sorted[low] / 1000.0;
        return lowS + (position - low) * (sorted[high] / 1000.0 - lowS);
    }
}
