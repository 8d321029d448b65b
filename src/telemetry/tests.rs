use std::sync::{Arc, Mutex};

use tracing::{Level, debug, error, info, info_span, warn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use super::json_lines::{JsonLines, SpanFields};
use crate::config::LogFormat;

#[test]
fn auto_is_human_on_a_terminal_and_json_for_services() {
    assert_eq!(super::resolve(LogFormat::Auto, true), LogFormat::Human);
    assert_eq!(super::resolve(LogFormat::Auto, false), LogFormat::Json);
    assert_eq!(super::resolve(LogFormat::Pretty, true), LogFormat::Pretty);
    assert_eq!(super::resolve(LogFormat::Json, true), LogFormat::Json);
}

#[derive(Clone)]
struct FixedTime;

impl FormatTime for FixedTime {
    fn format_time(&self, writer: &mut Writer<'_>) -> std::fmt::Result {
        writer.write_str("2026-12-01T19:28:59.123456Z")
    }
}

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lines").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = Lines;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Events of every kind of field, in and out of (nested) spans.
fn log_everything() {
    info!("outside any span");
    let request = info_span!(
        "request",
        request.id = %"3f1c-\"quoted\"",
        http.method = ?"GET",
        http.route = %"/v2.0/{project_id}/datasource-connection",
        http.path = ?"/v2.0/p1/datasource-connection/\u{1}x",
    );
    let _entered = request.enter();
    info!(latency = %format_args!("{} ms", 3), status = 200, "finished processing request");
    warn!(
        count = 7u64,
        delta = -3i64,
        ratio = 0.1 + 0.2,
        not_a_number = f64::NAN,
        ok = true,
        text = "tab\there \\ \"q\" é",
        debug = ?vec!["a", "b"],
        "a warning with \"quotes\"\nand a newline"
    );
    {
        let check = info_span!("recheck", connection.id = %"c0ffee", attempt = 2u64);
        let _check = check.enter();
        error!(error = %"boom", "nested");
        let bare = info_span!("bare");
        let _bare = bare.enter();
        debug!("inside a span without fields");
    }
    let other = info_span!("other", queue = "q1");
    info!(parent: &other, "with an explicit parent");
    let later = info_span!("later", first = 1u64, second = tracing::field::Empty);
    later.record("second", "recorded \"later\"");
    info!(parent: &later, "fields recorded after the span began");
    let empty = info_span!("empty_at_first", only = tracing::field::Empty);
    empty.record("only", 2u64);
    info!(parent: &empty, "a span whose every field came later");
    info!(message = "a message field given by name");
}

fn lines(make: impl FnOnce(Lines) -> Box<dyn tracing::Subscriber + Send + Sync>) -> String {
    let lines = Lines::default();
    let subscriber = make(lines.clone());
    tracing::subscriber::with_default(subscriber, log_everything);
    let bytes = lines.0.lock().expect("lines").clone();
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn the_json_log_line_is_byte_for_byte_the_stock_formatters() {
    let stock = lines(|out| {
        Box::new(
            tracing_subscriber::fmt()
                .with_max_level(Level::TRACE)
                .json()
                .flatten_event(true)
                .with_timer(FixedTime)
                .with_writer(out)
                .finish(),
        )
    });
    let ours = lines(|out| {
        Box::new(
            tracing_subscriber::fmt()
                .with_max_level(Level::TRACE)
                .json()
                .flatten_event(true)
                .fmt_fields(SpanFields)
                .event_format(JsonLines::with_timer(FixedTime))
                .with_writer(out)
                .finish(),
        )
    });
    assert_eq!(stock.lines().count(), 9, "{stock}");
    assert!(stock.contains("\"spans\":[{"), "{stock}");
    assert_eq!(ours, stock);
}
