//! The audit trail from the client's side: the event list, and the live stream read as
//! Server-Sent Events (what `dsconn events --follow` and `dsconn wait` follow).

use std::time::Duration;

use http::{HeaderValue, Method};

use super::{Answer, Client, ClientError, api_error, request_id};
use crate::api::events::types::{EventItem, EventsQuery, ListEventsResponse};
use crate::signing;

/// Most bytes one frame of the stream may take before the stream is called broken.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// One frame of the event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFrame {
    /// The stream is up; events after this id follow.
    Ready {
        after: i64,
    },
    Change(Box<EventItem>),
    Heartbeat,
    /// The server dropped this reader (too slow); resume from the last event.
    Dropped(String),
}

/// An open event stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Client {
    fn events_path(&self, suffix: &str) -> String {
        format!(
            "dsconn/v1/{}/events{suffix}",
            signing::encode(&self.project)
        )
    }

    /// `GET /dsconn/v1/{project}/events` with `query`'s filters.
    pub async fn list_events(
        &self,
        query: &EventsQuery,
    ) -> Result<Answer<ListEventsResponse>, ClientError> {
        let query = query_string(query)?;
        self.call(Method::GET, &self.events_path(""), &query, None)
            .await
    }

    /// Opens the project's event stream (after `last_event_id`, if given), to be read
    /// for at most `timeout`.
    pub async fn event_stream(
        &self,
        query: &EventsQuery,
        last_event_id: Option<i64>,
        timeout: Duration,
    ) -> Result<EventStream, ClientError> {
        let mut url = self
            .endpoint
            .join(&self.events_path("/stream"))
            .map_err(|error| ClientError::Settings(format!("cannot build a URL: {error}")))?;
        let query = query_string(query)?;
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        let mut headers = self.headers(&Method::GET, &url, &[])?;
        if let Some(id) = last_event_id {
            headers.insert("last-event-id", HeaderValue::from(id));
        }
        let response = self
            .http
            .get(url)
            .headers(headers)
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        let status = response.status().as_u16();
        if status >= 400 {
            let request_id = request_id(&response);
            let mut body: serde_json::Value = response.json().await.unwrap_or_default();
            // As every answer the CLI prints: no control or bidi characters.
            crate::domain::text::clean_json(&mut body);
            return Err(api_error(status, &body, request_id, || {
                format!("HTTP {status}")
            }));
        }
        Ok(EventStream {
            response,
            buffer: Vec::new(),
        })
    }
}

fn query_string(query: &EventsQuery) -> Result<String, ClientError> {
    serde_urlencoded::to_string(query)
        .map_err(|error| ClientError::Settings(format!("cannot encode the query: {error}")))
}

impl EventStream {
    /// The next frame; None when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<StreamFrame>, ClientError> {
        loop {
            if let Some(end) = frame_end(&self.buffer) {
                let frame: Vec<u8> = self.buffer.drain(..end).collect();
                if let Some(parsed) = parse_frame(&String::from_utf8_lossy(&frame))? {
                    return Ok(Some(parsed));
                }
                continue;
            }
            if self.buffer.len() > MAX_FRAME_BYTES {
                return Err(broken("a frame longer than 1 MiB"));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => return Ok(None),
                Err(error) => return Err(broken(&error.to_string())),
            }
        }
    }
}

fn broken(detail: &str) -> ClientError {
    ClientError::Protocol {
        endpoint: String::new(),
        status: 200,
        detail: format!("the event stream broke: {detail}"),
    }
}

/// Where the first frame (ended by a blank line) ends, its blank line included.
fn frame_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .map(|at| at + 2)
}

/// One frame's fields; None for a frame that carries nothing for the client (`retry:`
/// alone).
fn parse_frame(frame: &str) -> Result<Option<StreamFrame>, ClientError> {
    let mut event = None;
    let mut data = String::new();
    let mut comment = false;
    for line in frame.lines() {
        if line.starts_with(':') {
            comment = true;
        } else if let Some(value) = line.strip_prefix("event: ") {
            event = Some(value.to_owned());
        } else if let Some(value) = line.strip_prefix("data: ") {
            data.push_str(value);
        }
    }
    let json = || -> Result<serde_json::Value, ClientError> {
        serde_json::from_str(&data).map_err(|error| broken(&format!("data not JSON: {error}")))
    };
    Ok(match event.as_deref() {
        Some("ready") => Some(StreamFrame::Ready {
            after: json()?["after"].as_i64().unwrap_or(0),
        }),
        Some("change") => Some(StreamFrame::Change(Box::new(
            serde_json::from_value(json()?)
                .map_err(|error| broken(&format!("not an event: {error}")))?,
        ))),
        Some("dropped") => Some(StreamFrame::Dropped(
            json()?["reason"].as_str().unwrap_or_default().to_owned(),
        )),
        Some(_) => None,
        None if comment => Some(StreamFrame::Heartbeat),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_into_what_they_say() {
        assert_eq!(
            parse_frame("retry: 1000\nevent: ready\ndata: {\"after\":7}\n\n").expect("parses"),
            Some(StreamFrame::Ready { after: 7 })
        );
        assert_eq!(
            parse_frame(": heartbeat\n\n").expect("parses"),
            Some(StreamFrame::Heartbeat)
        );
        let change = "id: 8\nevent: change\ndata: {\"id\":8,\"time\":1,\"actor\":\"system\",\
            \"resource_type\":\"connection\",\"resource_id\":\"c\",\"action\":\"state\",\
            \"changes\":{}}\n\n";
        match parse_frame(change).expect("parses") {
            Some(StreamFrame::Change(event)) => assert_eq!(event.id, 8),
            other => panic!("not a change: {other:?}"),
        }
        assert!(parse_frame("event: change\ndata: {not json\n\n").is_err());
        assert_eq!(frame_end(b"id: 1\n\nid: 2"), Some(7));
        assert_eq!(frame_end(b"id: 1\n"), None);
    }
}
