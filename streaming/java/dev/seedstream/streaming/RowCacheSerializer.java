package dev.seedstream.streaming;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.BoundReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.catalyst.expressions.UnsafeRow;
import org.apache.spark.sql.columnar.CachedBatch;
import org.apache.spark.sql.columnar.CachedBatchSerializer;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.unsafe.Platform;

import scala.Function2;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction2;

/**
 * A cache of rows as they are ({@code spark.sql.cache.serializer}): each cached batch is the
 * {@link UnsafeRow} bytes of up to {@link #MAX_ROWS} rows (or about {@link #MAX_BYTES}) back to
 * back, each after its length, instead of Spark's columnar encoding.
 *
 * <p>The silver micro-batch is cached twice (the routed rows and the checked rows), read a few
 * times within seconds by operators that want whole rows (the table writes, the reference joins),
 * and dropped. Spark's default serializer builds a column per field with min/max statistics for
 * filtering (string comparisons per value) and grows a buffer per column: in a profile of 4 hours
 * of {@code scaling}, building the cache was 18 % of all task time. Copying the row bytes costs a
 * fraction of that; what is lost is filter pruning by those statistics, which these caches, read
 * whole, never use.
 */
public final class RowCacheSerializer implements CachedBatchSerializer {
  private static final long serialVersionUID = 1L;

  /** Rows per cached batch at most (Spark's columnar default is 10,000). */
  public static final int MAX_ROWS = 10_000;

  /** Bytes after which a cached batch is closed (one row may take it past). */
  public static final int MAX_BYTES = 4 << 20;

  /** One cached batch: {@code rows} rows of {@code fields} fields, {@code [int size][row bytes]}. */
  public static final class RowBatch implements CachedBatch, Serializable {
    private static final long serialVersionUID = 1L;
    final int fields;
    final int rows;
    final byte[] data;

    RowBatch(int fields, int rows, byte[] data) {
      this.fields = fields;
      this.rows = rows;
      this.data = data;
    }

    @Override
    public int numRows() {
      return rows;
    }

    @Override
    public long sizeInBytes() {
      return data.length;
    }
  }

  @Override
  public boolean supportsColumnarInput(Seq<Attribute> schema) {
    return false;
  }

  @Override
  public boolean supportsColumnarOutput(StructType schema) {
    return false;
  }

  @Override
  public RDD<CachedBatch> convertColumnarBatchToCachedBatch(
      RDD<ColumnarBatch> input, Seq<Attribute> schema, StorageLevel storageLevel, SQLConf conf) {
    throw new UnsupportedOperationException("RowCacheSerializer caches rows, not columnar batches");
  }

  @Override
  public RDD<ColumnarBatch> convertCachedBatchToColumnarBatch(
      RDD<CachedBatch> input, Seq<Attribute> cacheAttributes, Seq<Attribute> selectedAttributes,
      SQLConf conf) {
    throw new UnsupportedOperationException("RowCacheSerializer returns rows, not columnar batches");
  }

  @Override
  public Function2<Object, scala.collection.Iterator<CachedBatch>, scala.collection.Iterator<CachedBatch>>
      buildFilter(Seq<Expression> predicates, Seq<Attribute> cachedAttributes) {
    return new KeepAll();
  }

  /** No statistics, so no batch is skipped. */
  private static final class KeepAll
      extends AbstractFunction2<Object, scala.collection.Iterator<CachedBatch>, scala.collection.Iterator<CachedBatch>>
      implements Serializable {
    private static final long serialVersionUID = 1L;

    @Override
    public scala.collection.Iterator<CachedBatch> apply(
        Object partition, scala.collection.Iterator<CachedBatch> batches) {
      return batches;
    }
  }

  private static DataType[] types(Seq<Attribute> attributes) {
    List<Attribute> list = CollectionConverters.asJava(attributes);
    DataType[] types = new DataType[list.size()];
    for (int i = 0; i < types.length; i++) {
      types[i] = list.get(i).dataType();
    }
    return types;
  }

  @Override
  public RDD<CachedBatch> convertInternalRowToCachedBatch(
      RDD<InternalRow> input, Seq<Attribute> schema, StorageLevel storageLevel, SQLConf conf) {
    DataType[] types = types(schema);
    FlatMapFunction<Iterator<InternalRow>, CachedBatch> encode = rows -> new Batches(rows, types);
    return input.toJavaRDD().mapPartitions(encode).rdd();
  }

  /** A partition's rows → cached batches. */
  private static final class Batches implements Iterator<CachedBatch> {
    private final Iterator<InternalRow> rows;
    private final DataType[] types;
    private UnsafeProjection toUnsafe;
    private byte[] buffer = new byte[64 << 10];

    Batches(Iterator<InternalRow> rows, DataType[] types) {
      this.rows = rows;
      this.types = types;
    }

    @Override
    public boolean hasNext() {
      return rows.hasNext();
    }

    @Override
    public CachedBatch next() {
      if (!rows.hasNext()) {
        throw new NoSuchElementException();
      }
      int count = 0;
      int position = 0;
      while (rows.hasNext() && count < MAX_ROWS && position < MAX_BYTES) {
        InternalRow row = rows.next();
        UnsafeRow unsafe;
        if (row instanceof UnsafeRow) {
          unsafe = (UnsafeRow) row;
        } else {
          if (toUnsafe == null) {
            toUnsafe = UnsafeProjection.create(types);
          }
          unsafe = toUnsafe.apply(row);
        }
        int size = unsafe.getSizeInBytes();
        int end = position + 4 + size;
        if (end > buffer.length) {
          buffer = Arrays.copyOf(buffer, Math.max(end, buffer.length * 2));
        }
        Platform.putInt(buffer, Platform.BYTE_ARRAY_OFFSET + position, size);
        unsafe.writeToMemory(buffer, Platform.BYTE_ARRAY_OFFSET + position + 4);
        position = end;
        count++;
      }
      return new RowBatch(types.length, count, Arrays.copyOf(buffer, position));
    }
  }

  @Override
  public RDD<InternalRow> convertCachedBatchToInternalRow(
      RDD<CachedBatch> input, Seq<Attribute> cacheAttributes, Seq<Attribute> selectedAttributes,
      SQLConf conf) {
    List<Attribute> cached = CollectionConverters.asJava(cacheAttributes);
    List<Attribute> selected = CollectionConverters.asJava(selectedAttributes);
    int[] ordinals = new int[selected.size()];
    DataType[] types = new DataType[selected.size()];
    boolean[] nullable = new boolean[selected.size()];
    boolean identity = selected.size() == cached.size();
    for (int i = 0; i < ordinals.length; i++) {
      Attribute attribute = selected.get(i);
      ordinals[i] = -1;
      for (int j = 0; j < cached.size(); j++) {
        if (cached.get(j).exprId().equals(attribute.exprId())) {
          ordinals[i] = j;
          break;
        }
      }
      if (ordinals[i] < 0) {
        throw new IllegalArgumentException("column " + attribute + " is not in the cached relation");
      }
      types[i] = attribute.dataType();
      nullable[i] = attribute.nullable();
      identity &= ordinals[i] == i;
    }
    boolean project = !identity;
    FlatMapFunction<Iterator<CachedBatch>, InternalRow> decode =
        batches -> new Rows(batches, project ? ordinals : null, types, nullable);
    return input.toJavaRDD().mapPartitions(decode).rdd();
  }

  /** A partition's cached batches → rows (one reused row, as Spark's operators expect). */
  private static final class Rows implements Iterator<InternalRow> {
    private final Iterator<CachedBatch> batches;
    private final UnsafeProjection projection;
    private RowBatch batch;
    private int position;
    private int left;
    private UnsafeRow row;

    Rows(Iterator<CachedBatch> batches, int[] ordinals, DataType[] types, boolean[] nullable) {
      this.batches = batches;
      if (ordinals == null) {
        projection = null;
      } else {
        List<Expression> columns = new ArrayList<>(ordinals.length);
        for (int i = 0; i < ordinals.length; i++) {
          columns.add(new BoundReference(ordinals[i], types[i], nullable[i]));
        }
        projection = UnsafeProjection.create(CollectionConverters.asScala(columns).toSeq());
      }
    }

    @Override
    public boolean hasNext() {
      while (left == 0) {
        if (!batches.hasNext()) {
          return false;
        }
        batch = (RowBatch) batches.next();
        position = 0;
        left = batch.rows;
        if (row == null) {
          row = new UnsafeRow(batch.fields);
        }
      }
      return true;
    }

    @Override
    public InternalRow next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      int size = Platform.getInt(batch.data, Platform.BYTE_ARRAY_OFFSET + position);
      row.pointTo(batch.data, Platform.BYTE_ARRAY_OFFSET + position + 4, size);
      position += 4 + size;
      left--;
      return projection == null ? row : projection.apply(row);
    }
  }
}
