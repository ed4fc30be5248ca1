package dev.seedstream.streaming;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;

/**
 * Every Kafka record parsed once, and the checks that need nothing but the record itself: the
 * silver query's parse stage as one function, {@code (topic, value bytes) -> struct}. The
 * specification is {@code streaming/validation.py}'s docstring, which also builds this class's
 * spec (JSON: every topic's fields and rules, every reason and detail text) from the scenario's
 * record models; {@code tests/unit/test_streaming_silver.py} tests it through Spark.
 *
 * <p>Output, in slots: {@code _t} (the topic's index, -1 for a clean marker, null for a topic not
 * in the spec), {@code reason} and {@code detail} of the first failing check (null when it
 * passed), {@code _interval_start}, {@code _event_time} and {@code _record_id} (events that
 * passed), then every topic's typed fields (only the row's own topic filled).
 *
 * <p>Why the JVM: the same checks as Spark expressions were thousands of expressions per plan
 * (a {@code CASE} per check and topic), which Spark generated, compiled and the JIT warmed up per
 * plan, and which PySpark built with thousands of py4j calls; here they are one function the JIT
 * compiles once, and the record's bytes are tokenized once instead of three times.
 */
public final class Parser implements UDF2<String, byte[], Row> {
  private static final long serialVersionUID = 1L;

  static final int T = 0;
  static final int REASON = 1;
  static final int DETAIL = 2;
  static final int START = 3;
  static final int EVENT_TIME = 4;
  static final int RECORD_ID = 5;

  /**
   * The names of the slots above, in their order: the spec's {@code head} must be exactly these
   * ({@code streaming/validation.py}'s {@code HEAD}, which types them), so the two cannot drift.
   */
  static final List<String> HEAD =
      List.of("_t", "reason", "detail", "_interval_start", "_event_time", "_record_id");

  /**
   * Compiled specs by their text, shared by every copy of the function in this JVM: Spark
   * deserializes one copy per task, and each would otherwise compile the spec again. A plan holds
   * one spec per source; the bound only keeps a long-lived JVM that plans many from growing.
   */
  private static final Map<String, Compiled> COMPILED = new ConcurrentHashMap<>();

  private static final int MAX_COMPILED = 64;

  private final String spec;
  private final int width;
  private transient volatile Compiled compiled;

  public Parser(String spec, int width) {
    this.spec = spec;
    this.width = width;
  }

  /**
   * {@code rows} with the column {@code into}: this parser applied to its {@code topic} and
   * {@code value} (a string column, parsed from its bytes).
   */
  public static Dataset<Row> parse(Dataset<Row> rows, String spec, String outputSchema, String into) {
    StructType output = (StructType) DataType.fromJson(outputSchema);
    List<String> names = List.of(output.fieldNames());
    if (names.size() < HEAD.size() || !names.subList(0, HEAD.size()).equals(HEAD)) {
      throw new IllegalArgumentException(
          "the parser's output schema starts with " + names.subList(0, Math.min(names.size(), HEAD.size()))
              + ", the parser's slots are " + HEAD);
    }
    Parser parser = new Parser(spec, output.size());
    parser.compiled(); // a bad spec fails here, on the driver, not in a task
    UserDefinedFunction udf = functions.udf(parser, output).asNonNullable();
    return rows.withColumn(
        into, udf.apply(functions.col("topic"), functions.col("value").cast("binary")));
  }

  @Override
  public Row call(String topic, byte[] value) {
    return RowFactory.create(compiled().parse(topic, value, width));
  }

  private Compiled compiled() {
    Compiled result = compiled;
    if (result == null) {
      result = COMPILED.get(spec);
      if (result == null) {
        result = compile(spec);
        if (COMPILED.size() >= MAX_COMPILED) {
          COMPILED.clear();
        }
        COMPILED.putIfAbsent(spec, result);
      }
      compiled = result;
    }
    return result;
  }

  /** The spec compiled; a spec that is not JSON or whose head is not {@link #HEAD} is refused. */
  static Compiled compile(String spec) {
    JsonNode tree;
    try {
      tree = new ObjectMapper().readTree(spec);
    } catch (IOException e) {
      throw new IllegalArgumentException("the parser's spec is not JSON: " + e.getMessage(), e);
    }
    List<String> head = new ArrayList<>();
    JsonNode names = tree.get("head");
    if (names != null) {
      names.forEach(name -> head.add(name.asText()));
    }
    if (!head.equals(HEAD)) {
      throw new IllegalArgumentException(
          "the parser's spec names the output slots " + head + ", the parser's are " + HEAD);
    }
    return new Compiled(tree);
  }

  /** The spec compiled: per topic its fields, patterns and sets; shared by the task threads. */
  private static final class Compiled {
    final Map<String, TopicSpec> topics = new HashMap<>();
    final JsonFactory json = new JsonFactory();
    final ObjectMapper mapper = new ObjectMapper(json);
    final long intervalMicros;
    final Pattern iso;
    final String unparseable;
    final String schemaViolation;
    final String outsideInterval;
    final String unparseableDetail;
    final String unknownField;
    final String wrongType;
    final String intervalId;
    final Control control;

    Compiled(JsonNode spec) {
      intervalMicros = spec.get("interval_micros").asLong();
      iso = Pattern.compile(spec.get("iso_pattern").asText());
      JsonNode reasons = spec.get("reasons");
      unparseable = reasons.get("unparseable").asText();
      schemaViolation = reasons.get("schema_violation").asText();
      outsideInterval = reasons.get("outside_interval").asText();
      JsonNode details = spec.get("details");
      unparseableDetail = details.get("unparseable").asText();
      unknownField = details.get("unknown_field").asText();
      wrongType = details.get("wrong_type").asText();
      intervalId = details.get("interval_id").asText();
      for (JsonNode topic : spec.get("topics")) {
        TopicSpec parsed = new TopicSpec(topic);
        topics.put(parsed.kafkaTopic, parsed);
      }
      JsonNode control = spec.get("control");
      this.control = control == null || control.isNull() ? null : new Control(control);
    }

    Object[] parse(String topic, byte[] value, int width) {
      Object[] out = new Object[width];
      TopicSpec spec = topics.get(topic);
      String text = value == null ? null : decode(value);
      if (spec == null) {
        return out;
      }
      out[T] = spec.index;
      if (text == null) {
        return fail(out, unparseable, unparseableDetail);
      }
      if (control != null && spec.index == control.topicIndex && text.contains(control.field)) {
        Object[] marker = control(out, text);
        if (marker != null) {
          return marker;
        }
      }
      return record(out, spec, text);
    }

    /** A record of an ordinary topic: typed fields, then its checks in order. */
    private Object[] record(Object[] out, TopicSpec spec, String text) {
      FieldSpec[] fields = spec.fields;
      Object[] values = new Object[fields.length];
      byte[] state = new byte[fields.length];
      String firstUnknown = null;
      boolean wrong = false;
      try (JsonParser parser = json.createParser(text)) {
        if (parser.nextToken() != JsonToken.START_OBJECT) {
          return fail(out, unparseable, unparseableDetail);
        }
        JsonToken token;
        while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
          String name = parser.currentName();
          JsonToken first = parser.nextToken();
          FieldSpec field = spec.byName.get(name);
          if (field == null) {
            if (firstUnknown == null) {
              firstUnknown = name;
            }
            parser.skipChildren();
            continue;
          }
          int i = field.position;
          if (first == JsonToken.VALUE_NULL) {
            state[i] = JSON_NULL;
            values[i] = null;
            continue;
          }
          Object read = read(parser, first, field.kind, field.itemKind);
          if (read == WRONG) {
            state[i] = WRONG_TYPE;
            values[i] = null;
          } else {
            state[i] = PRESENT;
            values[i] = read;
          }
        }
        if (token != JsonToken.END_OBJECT || parser.nextToken() != null) {
          return fail(out, unparseable, unparseableDetail);
        }
      } catch (IOException e) {
        return fail(out, unparseable, unparseableDetail);
      }
      Long[] micros = new Long[fields.length];
      for (FieldSpec field : fields) {
        int i = field.position;
        Object typed = values[i];
        if (state[i] == WRONG_TYPE) {
          wrong = true;
        } else if (state[i] == PRESENT && field.timestamp) {
          micros[i] = instantMicros((String) typed, iso);
          typed = micros[i] == null ? null : instant(micros[i]);
        } else if (state[i] == PRESENT && field.date) {
          typed = date((String) typed);
        }
        out[field.slot] = typed;
      }
      Long start = null;
      if (spec.intervalPosition >= 0 && state[spec.intervalPosition] == PRESENT) {
        start = intervalStart((String) values[spec.intervalPosition]);
        out[START] = start == null ? null : instant(start);
      }
      if (spec.closed && firstUnknown != null) {
        return fail(out, schemaViolation, unknownField + firstUnknown);
      }
      for (FieldSpec field : fields) {
        int i = field.position;
        if (field.required && state[i] == ABSENT) {
          return fail(out, schemaViolation, field.missing);
        }
        if (!field.nullable && (state[i] == JSON_NULL || state[i] == WRONG_TYPE)) {
          return fail(out, schemaViolation, field.notType);
        }
        if (state[i] != PRESENT) {
          continue;
        }
        Object value = values[i];
        if (field.pattern != null && !field.pattern.matcher((String) value).find()) {
          return fail(out, schemaViolation, field.patternDetail);
        }
        if (field.timestamp && out[field.slot] == null) {
          return fail(out, schemaViolation, field.instantDetail);
        }
        if (field.date && out[field.slot] == null) {
          return fail(out, schemaViolation, field.dateDetail);
        }
        if (field.minimum != null && number(value) < field.minimum) {
          return fail(out, schemaViolation, field.minimumDetail);
        }
        if (field.exclusiveMinimum != null && number(value) <= field.exclusiveMinimum) {
          return fail(out, schemaViolation, field.exclusiveMinimumDetail);
        }
        if (field.maximum != null && number(value) > field.maximum) {
          return fail(out, schemaViolation, field.maximumDetail);
        }
        if (field.minItems >= 0 && ((List<?>) value).size() < field.minItems) {
          return fail(out, schemaViolation, field.minItemsDetail);
        }
        if (field.itemEnum != null) {
          for (Object item : (List<?>) value) {
            if (!field.itemEnum.contains(String.valueOf(item))) {
              return fail(out, schemaViolation, field.itemEnumDetail + item);
            }
          }
        }
        if (field.mapKeys != null) {
          for (Object key : ((Map<?, ?>) value).keySet()) {
            if (!field.mapKeys.contains((String) key)) {
              return fail(out, schemaViolation, field.mapKeysDetail + key);
            }
          }
        }
        if (field.enumValues != null && !field.enumValues.contains(String.valueOf(value))) {
          return fail(out, field.enumReason, field.enumDetail);
        }
      }
      if (wrong) {
        return fail(out, schemaViolation, wrongType);
      }
      if (spec.intervalPosition >= 0 && start == null) {
        return fail(out, schemaViolation, intervalId);
      }
      if (spec.events) {
        Long time = micros[spec.timePosition];
        if (time != null && (time < start || time >= start + intervalMicros)) {
          return fail(out, outsideInterval, spec.outsideDetail);
        }
        out[EVENT_TIME] = out[spec.fields[spec.timePosition].slot];
        Object id = values[spec.idPosition];
        out[RECORD_ID] = id == null ? null : String.valueOf(id);
      }
      return out;
    }

    /** A clean marker: checked against its own fields; null when {@code text} is no marker. */
    private Object[] control(Object[] out, String text) {
      JsonNode root;
      try (JsonParser parser = json.createParser(text)) {
        root = mapper.readTree(parser);
        if (parser.nextToken() != null) {
          return null; // trailing content: the ordinary path calls it unparseable
        }
      } catch (IOException e) {
        return null;
      }
      if (root == null || !root.isObject() || !root.has(control.field)) {
        return null;
      }
      out[T] = CONTROL_INDEX;
      Iterator<String> names = root.fieldNames();
      while (names.hasNext()) {
        String name = names.next();
        if (!control.fields.contains(name)) {
          return fail(out, schemaViolation, unknownField + name);
        }
      }
      if (!control.clean.equals(text(root.get(control.field)))) {
        return fail(out, schemaViolation, control.kindDetail);
      }
      String through = text(root.get("cleaned_through"));
      if (through == null || intervalStart(through) == null) {
        return fail(out, schemaViolation, control.throughDetail);
      }
      String at = text(root.get("cleaned_at"));
      if (at == null || instantMicros(at, iso) == null) {
        return fail(out, schemaViolation, control.atDetail);
      }
      String shard = text(root.get("shard"));
      if (shard == null || !control.shard.matcher(shard).find()) {
        return fail(out, schemaViolation, control.shardDetail);
      }
      return out;
    }
  }

  static final int CONTROL_INDEX = -1;
  private static final byte ABSENT = 0;
  private static final byte PRESENT = 1;
  private static final byte JSON_NULL = 2;
  private static final byte WRONG_TYPE = 3;
  private static final Object WRONG = new Object();

  static final int STRING = 0;
  static final int INTEGER = 1;
  static final int NUMBER = 2;
  static final int BOOLEAN = 3;
  static final int ARRAY = 4;
  static final int OBJECT = 5;

  static int kind(String jsonType) {
    switch (jsonType) {
      case "integer":
        return INTEGER;
      case "number":
        return NUMBER;
      case "boolean":
        return BOOLEAN;
      case "array":
        return ARRAY;
      case "object":
        return OBJECT;
      default:
        return STRING;
    }
  }

  /** One topic of the spec. */
  private static final class TopicSpec {
    final String kafkaTopic;
    final int index;
    final boolean closed;
    final boolean events;
    final FieldSpec[] fields;
    final Map<String, FieldSpec> byName = new HashMap<>();
    final int intervalPosition;
    final int timePosition;
    final int idPosition;
    final String outsideDetail;

    TopicSpec(JsonNode topic) {
      kafkaTopic = topic.get("kafka_topic").asText();
      index = topic.get("index").asInt();
      closed = topic.get("closed").asBoolean();
      events = "events".equals(topic.get("role").asText());
      JsonNode list = topic.get("fields");
      fields = new FieldSpec[list.size()];
      for (int i = 0; i < fields.length; i++) {
        fields[i] = new FieldSpec(list.get(i), i);
        byName.put(fields[i].name, fields[i]);
      }
      intervalPosition = position(topic, "interval_field");
      timePosition = position(topic, "time_field");
      idPosition = position(topic, "id_field");
      outsideDetail = topic.path("outside_detail").asText(null);
      if (events && (intervalPosition < 0 || timePosition < 0 || idPosition < 0)) {
        throw new IllegalArgumentException(kafkaTopic + ": an event topic needs its interval, time and id fields");
      }
    }

    private int position(JsonNode topic, String key) {
      JsonNode name = topic.get(key);
      if (name == null || name.isNull()) {
        return -1;
      }
      FieldSpec field = byName.get(name.asText());
      if (field == null) {
        throw new IllegalArgumentException(kafkaTopic + ": " + key + " " + name + " is not a field");
      }
      return field.position;
    }
  }

  /** One field: its JSON type, its rules and the detail of each rule it can fail. */
  private static final class FieldSpec {
    final String name;
    final int position;
    final int slot;
    final int kind;
    final int itemKind;
    final boolean required;
    final boolean nullable;
    final boolean timestamp;
    final boolean date;
    final Pattern pattern;
    final Double minimum;
    final Double exclusiveMinimum;
    final Double maximum;
    final int minItems;
    final Set<String> itemEnum;
    final Set<String> mapKeys;
    final Set<String> enumValues;
    final String enumReason;
    final String missing;
    final String notType;
    final String patternDetail;
    final String instantDetail;
    final String dateDetail;
    final String minimumDetail;
    final String exclusiveMinimumDetail;
    final String maximumDetail;
    final String minItemsDetail;
    final String itemEnumDetail;
    final String mapKeysDetail;
    final String enumDetail;

    FieldSpec(JsonNode field, int position) {
      this.position = position;
      name = field.get("name").asText();
      slot = field.get("slot").asInt();
      String type = field.get("json_type").asText();
      kind = kind(type);
      itemKind = kind(type.equals("array") ? field.path("item_type").asText("string")
          : field.path("map_value_type").asText("string"));
      required = field.get("required").asBoolean();
      nullable = field.get("nullable").asBoolean();
      timestamp = field.get("timestamp").asBoolean();
      date = field.get("date").asBoolean();
      pattern = field.hasNonNull("pattern") ? Pattern.compile(field.get("pattern").asText()) : null;
      minimum = field.hasNonNull("minimum") ? field.get("minimum").asDouble() : null;
      exclusiveMinimum =
          field.hasNonNull("exclusive_minimum") ? field.get("exclusive_minimum").asDouble() : null;
      maximum = field.hasNonNull("maximum") ? field.get("maximum").asDouble() : null;
      minItems = field.hasNonNull("min_items") ? field.get("min_items").asInt() : -1;
      itemEnum = strings(field.get("item_enum"));
      mapKeys = strings(field.get("map_keys"));
      enumValues = strings(field.get("enum"));
      enumReason = field.path("enum_reason").asText(null);
      JsonNode details = field.get("details");
      missing = details.path("missing").asText(null);
      notType = details.path("null").asText(null);
      patternDetail = details.path("pattern").asText(null);
      instantDetail = details.path("instant").asText(null);
      dateDetail = details.path("date").asText(null);
      minimumDetail = details.path("minimum").asText(null);
      exclusiveMinimumDetail = details.path("exclusive_minimum").asText(null);
      maximumDetail = details.path("maximum").asText(null);
      minItemsDetail = details.path("min_items").asText(null);
      itemEnumDetail = details.path("item_enum").asText(null);
      mapKeysDetail = details.path("map_keys").asText(null);
      enumDetail = details.path("enum").asText(null);
    }
  }

  /** The clean marker's fields and details. */
  private static final class Control {
    final int topicIndex;
    final String field;
    final String clean;
    final Set<String> fields;
    final Pattern shard;
    final String kindDetail;
    final String throughDetail;
    final String atDetail;
    final String shardDetail;

    Control(JsonNode control) {
      topicIndex = control.get("topic_index").asInt();
      field = control.get("field").asText();
      clean = control.get("clean").asText();
      fields = strings(control.get("fields"));
      shard = Pattern.compile(control.get("shard_pattern").asText());
      JsonNode details = control.get("details");
      kindDetail = details.get("kind").asText();
      throughDetail = details.get("cleaned_through").asText();
      atDetail = details.get("cleaned_at").asText();
      shardDetail = details.get("shard").asText();
    }
  }

  private static Set<String> strings(JsonNode list) {
    if (list == null || list.isNull()) {
      return null;
    }
    Set<String> result = new HashSet<>();
    for (JsonNode item : list) {
      result.add(item.asText());
    }
    return result;
  }

  private static Object[] fail(Object[] out, String reason, String detail) {
    out[REASON] = reason;
    out[DETAIL] = detail;
    return out;
  }

  /** The value's text, or null when its bytes are not UTF-8. */
  static String decode(byte[] value) {
    String text = new String(value, StandardCharsets.UTF_8);
    if (text.indexOf('\uFFFD') < 0) {
      return text; // nothing replaced: valid
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(value))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  /** A JSON value's token as the type the field declares, or {@link #WRONG} (children skipped). */
  private static Object read(JsonParser parser, JsonToken token, int kind, int itemKind) throws IOException {
    switch (kind) {
      case STRING:
        if (token == JsonToken.VALUE_STRING) {
          return parser.getText();
        }
        break;
      case INTEGER:
        if (token == JsonToken.VALUE_NUMBER_INT) {
          JsonParser.NumberType type = parser.getNumberType();
          if (type == JsonParser.NumberType.INT || type == JsonParser.NumberType.LONG) {
            return parser.getLongValue();
          }
        }
        break;
      case NUMBER:
        if (token == JsonToken.VALUE_NUMBER_INT || token == JsonToken.VALUE_NUMBER_FLOAT) {
          return parser.getDoubleValue();
        }
        break;
      case BOOLEAN:
        if (token == JsonToken.VALUE_TRUE || token == JsonToken.VALUE_FALSE) {
          return token == JsonToken.VALUE_TRUE;
        }
        break;
      case ARRAY:
        if (token == JsonToken.START_ARRAY) {
          List<Object> items = new ArrayList<>();
          boolean bad = false;
          JsonToken item;
          while ((item = parser.nextToken()) != JsonToken.END_ARRAY) {
            Object value = item == JsonToken.VALUE_NULL ? WRONG : read(parser, item, itemKind, STRING);
            if (value == WRONG) {
              bad = true;
            } else {
              items.add(value);
            }
          }
          return bad ? WRONG : items;
        }
        break;
      case OBJECT:
        if (token == JsonToken.START_OBJECT) {
          Map<String, Object> entries = new LinkedHashMap<>();
          boolean bad = false;
          while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String key = parser.currentName();
            JsonToken entry = parser.nextToken();
            Object value = entry == JsonToken.VALUE_NULL ? null : read(parser, entry, itemKind, STRING);
            if (value == WRONG) {
              bad = true;
            } else {
              entries.put(key, value);
            }
          }
          return bad ? WRONG : entries;
        }
        break;
      default:
        break;
    }
    parser.skipChildren();
    return WRONG;
  }

  private static double number(Object value) {
    return ((Number) value).doubleValue();
  }

  private static String text(JsonNode node) {
    if (node == null || node.isNull()) {
      return null;
    }
    return node.isTextual() ? node.textValue() : node.toString();
  }

  private static Instant instant(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1000L);
  }

  private static LocalDate date(String text) {
    try {
      return text.length() == 10 ? LocalDate.parse(text) : null;
    } catch (DateTimeException e) {
      return null;
    }
  }

  /**
   * An ISO 8601 instant with an offset ({@code iso}, the pipeline's pattern) as microseconds since
   * the epoch (finer digits truncated), or null. The producer's own form
   * ({@code 2025-11-08T12:20:00.000000Z}) takes a path without a formatter.
   */
  static Long instantMicros(String text, Pattern iso) {
    if (text.length() == 27 && shape(text, "dddd-dd-ddTdd:dd:dd.ddddddZ")) {
      try {
        long seconds = LocalDateTime.of(digits(text, 0, 4), digits(text, 5, 7), digits(text, 8, 10),
            digits(text, 11, 13), digits(text, 14, 16), digits(text, 17, 19)).toEpochSecond(ZoneOffset.UTC);
        return seconds * 1_000_000L + digits(text, 20, 26);
      } catch (DateTimeException e) {
        return null;
      }
    }
    if (!iso.matcher(text).find()) {
      return null;
    }
    try {
      Instant instant = OffsetDateTime.parse(text).toInstant();
      return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1000L);
    } catch (DateTimeException | ArithmeticException e) {
      return null;
    }
  }

  /**
   * The interval start an interval id names ({@code 20251108T1215Z}, {@code 20251108T121500Z} or
   * {@code 20251108T121500.000000Z}, UTC) in microseconds, or null.
   */
  static Long intervalStart(String id) {
    int length = id.length();
    boolean minutes = length == 14 && shape(id, "ddddddddTddddZ");
    boolean seconds = length == 16 && shape(id, "ddddddddTddddddZ");
    boolean fraction = length == 23 && shape(id, "ddddddddTdddddd.ddddddZ");
    if (!minutes && !seconds && !fraction) {
      return null;
    }
    try {
      long epoch = LocalDateTime.of(digits(id, 0, 4), digits(id, 4, 6), digits(id, 6, 8),
          digits(id, 9, 11), digits(id, 11, 13), minutes ? 0 : digits(id, 13, 15))
          .toEpochSecond(ZoneOffset.UTC);
      return epoch * 1_000_000L + (fraction ? digits(id, 16, 22) : 0);
    } catch (DateTimeException e) {
      return null;
    }
  }

  /** Whether {@code text} has the shape: {@code d} a digit, any other character itself. */
  private static boolean shape(String text, String shape) {
    if (text.length() != shape.length()) {
      return false;
    }
    for (int i = 0; i < shape.length(); i++) {
      char expected = shape.charAt(i);
      char actual = text.charAt(i);
      if (expected == 'd' ? actual < '0' || actual > '9' : actual != expected) {
        return false;
      }
    }
    return true;
  }

  private static int digits(String text, int from, int to) {
    int value = 0;
    for (int i = from; i < to; i++) {
      value = value * 10 + (text.charAt(i) - '0');
    }
    return value;
  }
}
