//! One JSON object per event: `ts`, `level`, `target`, `message`, the event's fields, the
//! span stack (`spans`: outermost first, each with its name and fields) and, at ERROR, a
//! `backtrace`. Values are recorded through their `Debug`/`Display`, so a `Secret` field
//! prints `<redacted>` here as everywhere.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The tracing layer; `make_writer` is called once per event.
pub struct JsonLayer<W> {
    make_writer: W,
}

impl<W, O> JsonLayer<W>
where
    W: Fn() -> O + Send + Sync + 'static,
    O: Write,
{
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// A span's recorded fields, kept in its extensions.
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
}

impl<S, W, O> tracing_subscriber::Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    W: Fn() -> O + Send + Sync + 'static,
    O: Write,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let mut line = Map::new();
        line.insert(
            "ts".into(),
            Value::String(jiff::Timestamp::now().to_string()),
        );
        line.insert(
            "level".into(),
            Value::String(metadata.level().as_str().to_owned()),
        );
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
        if let Some(message) = fields.remove("message") {
            line.insert("message".into(), message);
        }
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        if let Some(scope) = ctx.event_scope(event) {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| {
                    let mut entry = Map::new();
                    entry.insert("name".into(), Value::String(span.name().to_owned()));
                    if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>()
                        && !fields.is_empty()
                    {
                        entry.insert("fields".into(), Value::Object(fields.clone()));
                    }
                    Value::Object(entry)
                })
                .collect();
            if !spans.is_empty() {
                line.insert("spans".into(), Value::Array(spans));
            }
        }
        if *metadata.level() == Level::ERROR {
            let backtrace = std::backtrace::Backtrace::force_capture();
            line.insert("backtrace".into(), Value::String(backtrace.to_string()));
        }
        // serde escapes C0 controls; DEL, C1 and bidi controls (a sign-in name can carry
        // them) become JSON `\u009b`-style escapes too, so `tail -f` shows them, not obeys them.
        let mut text =
            qcat_core::text::escape_json_controls(&Value::Object(line).to_string()).into_owned();
        text.push('\n');
        let mut writer = (self.make_writer)();
        // A log line that cannot be written must not take the program down.
        let _ = writer.write_all(text.as_bytes());
    }
}
