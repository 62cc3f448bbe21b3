//! JSON log lines that carry the W3C trace and span ids of the span they were
//! written in, so a log line leads to its trace (and back).
//!
//! One object per line: `timestamp`, `level`, `target`, `message`, the event's
//! own fields, `span` (the current span's name and fields) and, inside a span,
//! `trace_id` (32 hex digits) and `span_id` (16 hex digits).
//!
//! Span fields are kept as JSON members appended to on every `span.record`
//! ([`SpanFields`]) and parsed only when a line is written: tracing's own
//! `JsonFields` parses and rewrites the whole object on each record, which a
//! request pays several times whether or not anything is logged (issue 15).

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt as _;
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber, span};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON event format of the services (use with [`SpanFields`] as the
/// field formatter). The ids are read from the OpenTelemetry layer of the
/// dispatcher it is [bound](JsonWithTrace::bind) to (a formatter cannot ask
/// the current dispatcher: inside an event it answers "none").
#[derive(Debug, Clone, Default)]
pub struct JsonWithTrace {
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl JsonWithTrace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads trace and span ids through `dispatch` (the subscriber this formatter is part of).
    pub fn bind(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    /// The trace and span ids of `span`, when it has a valid OpenTelemetry context.
    fn ids(&self, span: &tracing::span::Id) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let context = tracing_opentelemetry::get_otel_context(span, &dispatch)?;
        let span = context.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| (span_context.trace_id().to_string(), span_context.span_id().to_string()))
    }
}

impl<S> FormatEvent<S, SpanFields> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(timestamp()));
        line.insert("level".into(), Value::String(metadata.level().as_str().to_owned()));
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
        event.record(&mut FieldsVisitor(&mut line));
        if let Some(span) = ctx.lookup_current() {
            let mut current = Map::new();
            current.insert("name".into(), Value::String(span.name().to_owned()));
            let fields = span.extensions().get::<FormattedFields<SpanFields>>().map(|fields| format!("{{{fields}}}"));
            // A field recorded twice appears twice: the later value wins.
            if let Some(Ok(Value::Object(fields))) = fields.map(|fields| serde_json::from_str::<Value>(&fields)) {
                current.extend(fields);
            }
            line.insert("span".into(), Value::Object(current));
            // No extensions guard is held here: the OpenTelemetry layer locks them.
            if let Some((trace_id, span_id)) = self.ids(&span.id()) {
                line.insert("trace_id".into(), Value::String(trace_id));
                line.insert("span_id".into(), Value::String(span_id));
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Span fields as the members of a JSON object (`"a":"b","n":1`, no braces),
/// appended to on every record without reading what is there.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut members = Members { writer: &mut writer, first: true, result: Ok(()) };
        fields.record(&mut members);
        members.result
    }

    fn add_fields(&self, current: &'writer mut FormattedFields<Self>, fields: &span::Record<'_>) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut writer = current.as_writer();
        let mut members = Members { writer: &mut writer, first, result: Ok(()) };
        fields.record(&mut members);
        members.result
    }
}

/// Writes each field it visits as a JSON member.
struct Members<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Members<'_, '_> {
    /// `"name":value`, where `value` writes valid JSON.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) { "" } else { "," };
        self.result = self
            .writer
            .write_str(separator)
            .and_then(|()| json_string(self.writer, field.name()))
            .and_then(|()| self.writer.write_char(':'))
            .and_then(|()| value(self.writer));
    }
}

impl Visit for Members<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |writer| json_string(writer, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |writer| write!(writer, "{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |writer| write!(writer, "{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |writer| write!(writer, "{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |writer| write!(writer, "{}", Value::from(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |writer| json_string(writer, &format!("{value:?}")));
    }
}

/// `text` as a JSON string (quoted, escaped).
fn json_string(writer: &mut impl fmt::Write, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if u32::from(c) < 0x20 => "",
            _ => continue,
        };
        writer.write_str(&text[start..at])?;
        match escape {
            "" => write!(writer, "\\u{:04x}", u32::from(c))?,
            escape => writer.write_str(escape)?,
        }
        start = at + c.len_utf8();
    }
    writer.write_str(&text[start..])?;
    writer.write_char('"')
}

fn timestamp() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    chrono::DateTime::from_timestamp(elapsed.as_secs() as i64, elapsed.subsec_nanos())
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// Collects an event's fields as JSON values.
struct FieldsVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_carry_the_trace_and_span_ids_of_their_span() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let format = JsonWithTrace::new();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(SpanFields)
                    .event_format(format.clone())
                    .with_writer(move || writer.clone())
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            );
        let dispatch = Dispatch::new(subscriber);
        format.bind(&dispatch);
        let (trace_id, span_id) = tracing::dispatcher::with_default(&dispatch, || {
            use opentelemetry::trace::TraceContextExt as _;
            use tracing_opentelemetry::OpenTelemetrySpanExt as _;
            tracing::info!(outside = true, "no span");
            let span = tracing::info_span!(
                "grpc.server",
                rpc.method = "Check",
                csm.rule = tracing::field::Empty,
                csm.count = 1_u64,
                csm.note = "a \"quoted\"\tline\u{1}"
            );
            span.record("csm.rule", "R2.20");
            span.record("csm.rule", "R2.21");
            span.record("csm.count", 2_u64);
            let _entered = span.enter();
            tracing::info!(rule = "R2.20", revision = 7_u64, "check denied");
            let context = span.context();
            let span_context = context.span().span_context().clone();
            (span_context.trace_id().to_string(), span_context.span_id().to_string())
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"], "no span");
        assert!(lines[0].get("trace_id").is_none(), "no trace outside a span");
        let line = &lines[1];
        assert_eq!((line["level"].as_str(), line["message"].as_str()), (Some("INFO"), Some("check denied")));
        assert_eq!((line["rule"].as_str(), line["revision"].as_u64()), (Some("R2.20"), Some(7)));
        assert_eq!(line["span"]["name"], "grpc.server");
        assert_eq!(line["span"]["rpc.method"], "Check");
        assert_eq!(line["span"]["csm.rule"], "R2.21", "the last record wins");
        assert_eq!(line["span"]["csm.count"], 2);
        assert_eq!(line["span"]["csm.note"], "a \"quoted\"\tline\u{1}", "escaped and back");
        assert_eq!(line["trace_id"].as_str(), Some(trace_id.as_str()));
        assert_eq!(line["span_id"].as_str(), Some(span_id.as_str()));
        assert_eq!(trace_id.len(), 32);
        assert_eq!(span_id.len(), 16);
    }
}
