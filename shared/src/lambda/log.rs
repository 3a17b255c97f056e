//! The JSON log lines a function writes in Lambda: byte for byte the lines
//! `tracing-subscriber`'s JSON formatter writes as [`super::init_tracing`]
//! used to configure it (`level`, `fields`, then `spans` from the root when
//! a span is current; no time, target or current span), with less work
//! per line:
//! - a span's fields are rendered once, when it is created (and again when
//!   one is recorded later), not rendered at creation and parsed back into
//!   a JSON value for every line;
//! - a line is written from one reused buffer.
//!
//! The per-invocation span and its one log line cost ~10-16 µs of a warm
//! invocation with the formatter (BENCHMARKS.md, "Round 12").
//!
//! Same rules as the formatter: an event's fields in the order they were
//! recorded, a value that is not a number, a bool or a string as its
//! `Debug` text (an error as its `Display` text); a span's fields sorted by
//! name (a later value of a field replacing the earlier one, `r#` dropped
//! from a raw identifier, bytes as an array of numbers), then its `name`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The layer: JSON lines to what `make_writer` makes (stdout in a
/// function).
pub struct JsonLines<W> {
    make_writer: W,
}

impl<W> JsonLines<W> {
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// A span's fields and the text the lines show for it,
/// `{"field":value,…,"name":"span name"}`.
struct SpanJson {
    values: BTreeMap<&'static str, Value>,
    rendered: String,
}

impl SpanJson {
    fn render(&mut self, name: &str) {
        let mut out = Vec::with_capacity(64);
        out.push(b'{');
        for (key, value) in &self.values {
            push_json(&mut out, *key);
            out.push(b':');
            push_json(&mut out, value);
            out.push(b',');
        }
        out.extend_from_slice(b"\"name\":");
        push_json(&mut out, name);
        out.push(b'}');
        // serde_json writes UTF-8 only.
        self.rendered = String::from_utf8(out).unwrap_or_default();
    }
}

/// `value` as JSON onto `out` (serde_json's own escaping and numbers).
fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing a str, a number or a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Records a span's fields as the formatter's `JsonVisitor` does.
struct SpanVisitor<'a>(&'a mut BTreeMap<&'static str, Value>);

impl Visit for SpanVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.0.insert(name, Value::from(format!("{value:?}")));
    }
}

/// Writes an event's fields as `"name":value` pairs, as `tracing-serde`'s
/// map visitor does.
struct EventVisitor<'a> {
    out: &'a mut Vec<u8>,
    scratch: &'a mut String,
    first: bool,
}

impl EventVisitor<'_> {
    fn key(&mut self, field: &Field) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        push_json(self.out, field.name());
        self.out.push(b':');
    }

    fn entry<T: serde::Serialize + ?Sized>(&mut self, field: &Field, value: &T) {
        self.key(field);
        push_json(self.out, value);
    }
}

impl Visit for EventVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.scratch.clear();
        let _ = write!(self.scratch, "{value:?}");
        push_json(self.out, self.scratch.as_str());
    }
}

thread_local! {
    /// The line being written, and the text of a `Debug` value in it.
    static LINE: RefCell<(Vec<u8>, String)> = RefCell::new((Vec::with_capacity(512), String::with_capacity(128)));
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut json = SpanJson {
            values: BTreeMap::new(),
            rendered: String::new(),
        };
        attrs.record(&mut SpanVisitor(&mut json.values));
        json.render(span.name());
        span.extensions_mut().insert(json);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(json) = extensions.get_mut::<SpanJson>() {
            values.record(&mut SpanVisitor(&mut json.values));
            json.render(span.name());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        LINE.with(|line| {
            // A line written while one is being written (should a `Debug`
            // impl's event ever get here; tracing drops those today) gets
            // buffers of its own rather than a panic.
            let mut fresh = (Vec::new(), String::new());
            let mut guard = line.try_borrow_mut();
            let (out, scratch) = match guard.as_deref_mut() {
                Ok(buffers) => buffers,
                Err(_) => &mut fresh,
            };
            out.clear();
            out.extend_from_slice(b"{\"level\":\"");
            out.extend_from_slice(event.metadata().level().as_str().as_bytes());
            out.extend_from_slice(b"\",\"fields\":{");
            event.record(&mut EventVisitor {
                out,
                scratch,
                first: true,
            });
            out.push(b'}');
            let current = event
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current());
            if current.is_some() {
                out.extend_from_slice(b",\"spans\":[");
                if let Some(leaf) = ctx.lookup_current() {
                    for (i, span) in leaf.scope().from_root().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        if let Some(json) = span.extensions().get::<SpanJson>() {
                            out.extend_from_slice(json.rendered.as_bytes());
                        }
                    }
                }
                out.push(b']');
            }
            out.extend_from_slice(b"}\n");
            let _ = self
                .make_writer
                .make_writer_for(event.metadata())
                .write_all(out);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[derive(Debug)]
    struct Odd {
        _text: &'static str,
    }

    #[derive(Debug)]
    struct Failure;

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("it \"failed\"\n\tbadly ☹")
        }
    }

    impl std::error::Error for Failure {}

    /// Every kind of value, in events and spans, nested spans, a span
    /// field recorded late, an explicit parent, events outside any span.
    fn log_everything() {
        tracing::info!("outside any span");
        tracing::warn!(
            count = 3u64,
            delta = -2i64,
            ratio = 0.5f64,
            "no span, numbers"
        );
        tracing::error!(
            nan = f64::NAN,
            big = 1e300f64,
            tiny = 1e-7f64,
            ok = true,
            "floats"
        );
        let outer = tracing::info_span!(
            "Lambda runtime invoke",
            requestId = "req-1",
            xrayTraceId = "Root=1-00000000",
            later = tracing::field::Empty,
        );
        let _outer = outer.enter();
        tracing::info!(kind = "InboundMessage", source = ?Some("Messaging"), "webhook enqueued");
        outer.record("later", 42u64);
        let error = Failure;
        let inner = tracing::debug_span!(
            "inner",
            z = 1u64,
            a = "first",
            r#type = ?Odd { _text: "x" },
            bytes = tracing::field::debug(&b"\x00ab"[..]),
            raw_bytes = &b"\x00ab"[..],
        );
        {
            let _inner = inner.enter();
            tracing::info!(
                error = &error as &(dyn std::error::Error + 'static),
                "an error"
            );
            tracing::info!(
                text = "quote \" backslash \\ newline \n control \u{1} emoji 🦀",
                "escapes"
            );
            tracing::info!(odd = ?Odd { _text: "\"quoted\"" }, shown = %"display \"text\"", "debug and display");
            tracing::info!(
                r#type = "raw",
                same = 1u64,
                same = 2u64,
                "raw and repeated names"
            );
            tracing::info!(
                raw_bytes = &b"\x00ab"[..],
                wide = 1u128 << 100,
                "bytes and 128-bit"
            );
        }
        inner.record("a", "second");
        tracing::info!(parent: &inner, "explicit parent, outer current");
        drop(_outer);
        tracing::info!(parent: &inner, "explicit parent, nothing current");
        tracing::info!(message = "a message field", extra = 1u64);
        tracing::info!("a formatted message {} {:?}", "with args", Some(1));
    }

    #[test]
    fn the_lines_should_be_the_ones_the_tracing_subscriber_json_formatter_writes() {
        let theirs = Captured::default();
        let formatter = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_target(false)
                .with_current_span(false)
                .without_time()
                .with_ansi(false)
                .with_writer(theirs.clone()),
        );
        tracing::subscriber::with_default(formatter, log_everything);

        let ours = Captured::default();
        let layer = tracing_subscriber::registry().with(JsonLines::new(ours.clone()));
        tracing::subscriber::with_default(layer, log_everything);

        let (theirs, ours) = (theirs.text(), ours.text());
        assert_eq!(theirs.lines().count(), 13, "{theirs}");
        for (n, (t, o)) in theirs.lines().zip(ours.lines()).enumerate() {
            assert_eq!(o, t, "line {n}");
        }
        assert_eq!(ours, theirs);
        // Each line is one JSON object.
        for line in ours.lines() {
            let _: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        }
    }

    #[test]
    fn a_value_that_logs_while_it_is_written_should_leave_the_line_whole() {
        struct Loud;
        impl fmt::Debug for Loud {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                tracing::info!("from inside");
                f.write_str("loud")
            }
        }
        let ours = Captured::default();
        let layer = tracing_subscriber::registry().with(JsonLines::new(ours.clone()));
        tracing::subscriber::with_default(layer, || tracing::info!(value = ?Loud, "outer"));
        // tracing drops an event raised while one is dispatched on the same
        // thread; the line being written stays whole either way.
        assert_eq!(
            ours.text(),
            "{\"level\":\"INFO\",\"fields\":{\"message\":\"outer\",\"value\":\"loud\"}}\n"
        );
    }
}
