package crossings.flink;

import java.util.List;
import java.util.Set;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

/**
 * Format {@code crossing-json}: a raw crossing payload parsed once, at the source, into typed
 * columns (see {@link CrossingParser}). The table declares any of these physical columns, by
 * name: {@code reason STRING} (NULL = valid), {@code event_id}, {@code kind}, {@code port_code},
 * {@code direction}, {@code channel_type} (STRING, NULL for a dead letter but {@code port_code}), {@code event_time TIMESTAMP(3)} (released_at if it parses and
 * is not beyond the skew tolerance, valid or not, else the epoch: the watermark's column),
 * {@code clearance_ms INT}, {@code received_at TIMESTAMP(3)} (processing time of the parse) and
 * {@code payload STRING} (the record as received; a dead letter's with its identifiers as HMAC refs,
 * keyed by {@code PRIVACY_HMAC_KEY} of the TaskManager's environment: see {@link Refs}).
 */
public class CrossingJsonFormatFactory implements DeserializationFormatFactory {

    public static final ConfigOption<String> CONTRACT = ConfigOptions.key("contract").stringType()
            .noDefaultValue().withDescription("the contract JSON of schemas/contract.py");
    public static final ConfigOption<Long> SKEW_TOLERANCE_S = ConfigOptions.key("skew-tolerance-s").longType()
            .noDefaultValue().withDescription("released_at may be this far ahead of processing time");

    @Override
    public String factoryIdentifier() {
        return "crossing-json";
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(CONTRACT, SKEW_TOLERANCE_S);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of();
    }

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig options) {
        String contract = options.get(CONTRACT);
        long skewToleranceS = options.get(SKEW_TOLERANCE_S);
        new CrossingParser(contract, skewToleranceS); // fail at planning on a bad contract
        return new DecodingFormat<>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(
                    DynamicTableSource.Context sourceContext, DataType physicalType) {
                RowType rowType = (RowType) physicalType.getLogicalType();
                return new Decoder(contract, skewToleranceS, rowType.getFieldNames(),
                        sourceContext.createTypeInformation(physicalType));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    /** The columns a table may declare. */
    enum Column { REASON, EVENT_ID, KIND, PORT_CODE, DIRECTION, CHANNEL_TYPE, EVENT_TIME, CLEARANCE_MS,
        RECEIVED_AT, PAYLOAD }

    static final class Decoder implements DeserializationSchema<RowData> {
        private static final long serialVersionUID = 1L;

        private final String contract;
        private final long skewToleranceS;
        private final Column[] columns;
        private final TypeInformation<RowData> producedType;
        private transient CrossingParser parser;
        private transient Refs refs;

        Decoder(String contract, long skewToleranceS, List<String> names, TypeInformation<RowData> producedType) {
            this.contract = contract;
            this.skewToleranceS = skewToleranceS;
            this.columns = new Column[names.size()];
            for (int i = 0; i < columns.length; i++) {
                try {
                    columns[i] = Column.valueOf(names.get(i).toUpperCase());
                } catch (IllegalArgumentException unknown) {
                    throw new IllegalArgumentException("format crossing-json has no column " + names.get(i), unknown);
                }
            }
            this.producedType = producedType;
        }

        @Override
        public void open(InitializationContext context) {
            parser = new CrossingParser(contract, skewToleranceS);
            refs = Refs.fromEnvironment(); // the key from the TaskManager's environment, not from the plan
        }

        @Override
        public RowData deserialize(byte[] message) {
            long now = System.currentTimeMillis();
            CrossingParser.Parsed parsed = parser.parse(message, now);
            GenericRowData row = new GenericRowData(columns.length);
            for (int i = 0; i < columns.length; i++) {
                row.setField(i, value(columns[i], parsed, message, now));
            }
            return row;
        }

        private Object value(Column column, CrossingParser.Parsed parsed, byte[] message, long now) {
            switch (column) {
                case REASON: return string(parsed.reason);
                case EVENT_ID: return string(parsed.eventId);
                case KIND: return string(parsed.kind);
                case PORT_CODE: return string(parsed.portCode);
                case DIRECTION: return string(parsed.direction);
                case CHANNEL_TYPE: return string(parsed.channelType);
                case EVENT_TIME:
                    return TimestampData.fromEpochMillis(parsed.eventTimeMs == Long.MIN_VALUE ? 0 : parsed.eventTimeMs);
                case CLEARANCE_MS: return parsed.reason == null ? parsed.clearanceMs : null;
                case RECEIVED_AT: return TimestampData.fromEpochMillis(now);
                case PAYLOAD:
                    if (message == null) {
                        return null;
                    }
                    return parsed.reason == null ? StringData.fromBytes(message) : string(parser.redact(message, refs));
                default: throw new IllegalStateException(column.name());
            }
        }

        private static StringData string(String value) {
            return value == null ? null : StringData.fromString(value);
        }

        @Override
        public boolean isEndOfStream(RowData nextElement) {
            return false;
        }

        @Override
        public TypeInformation<RowData> getProducedType() {
            return producedType;
        }
    }
}
