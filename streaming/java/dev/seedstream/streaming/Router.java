package dev.seedstream.streaming;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

import org.apache.spark.api.java.function.FlatMapGroupsWithStateFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.streaming.GroupState;
import org.apache.spark.sql.streaming.GroupStateTimeout;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Spark's watermark applied to every event, and deduplication by record id within it: the
 * {@code flatMapGroupsWithState} function of the silver query, with the decisions of
 * {@code streaming/router.py}'s docstring (the specification; {@code tests/integration/test_router.py}
 * tests this class through a streaming query).
 *
 * <p>Without a timeout, {@code flatMapGroupsWithState} hands the function every row of a group, late
 * ones included, and {@link GroupState#getCurrentWatermarkMs()} is Spark's event-time watermark.
 * Per group (topic, bucket of the record id) and micro-batch:
 *
 * <ul>
 *   <li>rows without an event time (not an event, or an event that failed an intrinsic check) pass
 *       through with {@code _late = false};
 *   <li>an event at or before the watermark passes through with {@code _late = true} and is not
 *       remembered;
 *   <li>of the others, the first copy of each id (by partition, offset) that the state does not hold
 *       is kept, the other copies pass through with {@code _duplicate = true} (bronze keeps every
 *       record; silver drops them);
 *   <li>remembered ids whose event time is at or before the watermark are forgotten.
 * </ul>
 *
 * <p>It runs in the JVM because the Python equivalent ({@code applyInPandasWithState}) moves every
 * column of every row through Arrow to a Python worker and back (see {@code streaming/router.py}
 * for the measurement).
 *
 * <p>State per group: the remembered ids joined by NUL, and their event times as little-endian
 * int64 microseconds, the same encoding as {@code streaming/router.py}'s {@code STATE_SCHEMA}.
 */
public final class Router implements FlatMapGroupsWithStateFunction<Row, Row, Row, Row> {
  private static final long serialVersionUID = 1L;

  /** The state's schema: remembered ids joined by NUL, their event times (int64 microseconds). */
  public static final StructType STATE_SCHEMA =
      new StructType()
          .add("ids", DataTypes.StringType, false)
          .add("times", DataTypes.BinaryType, false);

  private static final char SEPARATOR = '\u0000';

  private final int width;
  private final int eventTime;
  private final int recordId;
  private final int partition;
  private final int offset;

  private Router(StructType input) {
    this.width = input.size();
    this.eventTime = input.fieldIndex("_event_time");
    this.recordId = input.fieldIndex("_record_id");
    this.partition = input.fieldIndex("partition");
    this.offset = input.fieldIndex("offset");
  }

  /**
   * {@code keyed} grouped by {@code keys} (comma-separated column names) and routed: its rows with
   * {@code _late}, {@code _duplicate} and {@code _watermark_ms} appended. {@code keyed} must carry a watermark and the
   * columns {@code _event_time}, {@code _record_id}, {@code partition} and {@code offset}.
   */
  public static Dataset<Row> route(Dataset<Row> keyed, String keyColumns) {
    String[] keys = keyColumns.split(",");
    StructType input = keyed.schema();
    StructType keySchema = new StructType();
    Column[] columns = new Column[keys.length];
    for (int i = 0; i < keys.length; i++) {
      keySchema = keySchema.add(input.apply(keys[i]));
      columns[i] = functions.col(keys[i]);
    }
    StructType output =
        input
            .add("_late", DataTypes.BooleanType, false)
            .add("_duplicate", DataTypes.BooleanType, false)
            .add("_watermark_ms", DataTypes.LongType, false);
    return keyed
        .groupBy(columns)
        .as(Encoders.row(keySchema), Encoders.row(input))
        .flatMapGroupsWithState(
            new Router(input),
            OutputMode.Append(),
            Encoders.row(STATE_SCHEMA),
            Encoders.row(output),
            GroupStateTimeout.NoTimeout());
  }

  /** An event on time, with what orders its copies. */
  private record Candidate(Row row, String id, long micros, int partition, long offset) {}

  @Override
  public Iterator<Row> call(Row key, Iterator<Row> rows, GroupState<Row> state) {
    long watermarkMs = state.getCurrentWatermarkMs();
    long watermarkUs = Math.multiplyExact(watermarkMs, 1000L);
    List<Row> out = new ArrayList<>();
    List<Candidate> onTime = new ArrayList<>();
    while (rows.hasNext()) {
      Row row = rows.next();
      if (row.isNullAt(eventTime)) {
        out.add(extend(row, false, false, watermarkMs));
        continue;
      }
      long micros = micros(row.get(eventTime));
      if (micros <= watermarkUs) {
        out.add(extend(row, true, false, watermarkMs));
      } else {
        onTime.add(
            new Candidate(
                row, row.getString(recordId), micros, row.getInt(partition), row.getLong(offset)));
      }
    }
    List<String> ids = new ArrayList<>();
    List<Long> times = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    if (state.exists()) {
      Row held = state.get();
      String joined = held.getString(0);
      if (!joined.isEmpty()) {
        String[] heldIds = joined.split(String.valueOf(SEPARATOR), -1);
        ByteBuffer heldTimes = ByteBuffer.wrap((byte[]) held.get(1)).order(ByteOrder.LITTLE_ENDIAN);
        for (String id : heldIds) {
          long micros = heldTimes.getLong();
          seen.add(id);
          if (micros > watermarkUs) {
            ids.add(id);
            times.add(micros);
          }
        }
      }
    }
    onTime.sort(
        Comparator.comparingInt(Candidate::partition).thenComparingLong(Candidate::offset));
    for (Candidate candidate : onTime) {
      if (seen.add(candidate.id())) {
        out.add(extend(candidate.row(), false, false, watermarkMs));
        ids.add(candidate.id());
        times.add(candidate.micros());
      } else {
        out.add(extend(candidate.row(), false, true, watermarkMs));
      }
    }
    if (!ids.isEmpty()) {
      ByteBuffer packed = ByteBuffer.allocate(times.size() * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
      for (long micros : times) {
        packed.putLong(micros);
      }
      state.update(RowFactory.create(String.join(String.valueOf(SEPARATOR), ids), packed.array()));
    } else if (state.exists()) {
      state.remove();
    }
    return out.iterator();
  }

  private Row extend(Row row, boolean late, boolean duplicate, long watermarkMs) {
    Object[] values = new Object[width + 3];
    for (int i = 0; i < width; i++) {
      values[i] = row.get(i);
    }
    values[width] = late;
    values[width + 1] = duplicate;
    values[width + 2] = watermarkMs;
    return RowFactory.create(values);
  }

  /** Microseconds since the epoch of a timestamp as Spark hands it to Java (either API). */
  static long micros(Object value) {
    if (value instanceof Instant instant) {
      return Math.addExact(
          Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1000);
    }
    Timestamp timestamp = (Timestamp) value;
    long seconds = Math.floorDiv(timestamp.getTime(), 1000L);
    return Math.addExact(Math.multiplyExact(seconds, 1_000_000L), timestamp.getNanos() / 1000);
  }
}
