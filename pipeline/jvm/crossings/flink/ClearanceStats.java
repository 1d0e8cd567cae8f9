package crossings.flink;

import java.io.IOException;
import java.util.Arrays;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
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
 * definition of Flink's PERCENTILE and of the recomputations in bench/). The accumulator is a
 * RAW value with a serializer of its own: a structured type would be converted to and from
 * Flink's row format, its whole array copied, on every record.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = ClearanceStats.Values.class,
                rawSerializer = ClearanceStats.ValuesSerializer.class),
        output = @DataTypeHint(
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

    /** Values as their count, then the ints. */
    public static final class ValuesSerializer extends TypeSerializerSingleton<Values> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean isImmutableType() {
            return false;
        }

        @Override
        public Values createInstance() {
            return new Values();
        }

        @Override
        public Values copy(Values from) {
            Values copy = new Values();
            copy.ms = Arrays.copyOf(from.ms, Math.max(from.size, 1));
            copy.size = from.size;
            return copy;
        }

        @Override
        public Values copy(Values from, Values reuse) {
            return copy(from);
        }

        @Override
        public int getLength() {
            return -1;
        }

        @Override
        public void serialize(Values values, DataOutputView target) throws IOException {
            target.writeInt(values.size);
            for (int i = 0; i < values.size; i++) {
                target.writeInt(values.ms[i]);
            }
        }

        @Override
        public Values deserialize(DataInputView source) throws IOException {
            Values values = new Values();
            values.size = source.readInt();
            values.ms = new int[Math.max(values.size, 1)];
            for (int i = 0; i < values.size; i++) {
                values.ms[i] = source.readInt();
            }
            return values;
        }

        @Override
        public Values deserialize(Values reuse, DataInputView source) throws IOException {
            return deserialize(source);
        }

        @Override
        public void copy(DataInputView source, DataOutputView target) throws IOException {
            int size = source.readInt();
            target.writeInt(size);
            target.write(source, size * Integer.BYTES);
        }

        @Override
        public TypeSerializerSnapshot<Values> snapshotConfiguration() {
            return new ValuesSnapshot();
        }
    }

    /** The snapshot of the stateless ValuesSerializer. */
    public static final class ValuesSnapshot extends SimpleTypeSerializerSnapshot<Values> {
        public ValuesSnapshot() {
            super(ValuesSerializer::new);
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
