//! A minimal Server-Sent Events reader (the subset the node sends: `event`, `id`, `data`).

use futures::StreamExt;

/// One event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// Longest event accepted, in bytes.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Feeds bytes in, takes whole events out.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: String,
    current: SseEvent,
}

impl SseParser {
    pub fn push(&mut self, chunk: &str) -> anyhow::Result<Vec<SseEvent>> {
        self.buffer.push_str(chunk);
        if self.buffer.len() > MAX_EVENT_BYTES {
            anyhow::bail!("event stream line over {MAX_EVENT_BYTES} bytes");
        }
        let mut out = Vec::new();
        while let Some(pos) = self.buffer.find('\n') {
            let line: String = self.buffer.drain(..=pos).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.current.data.is_empty() {
                    out.push(std::mem::take(&mut self.current));
                }
                self.current = SseEvent::default();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.current.event = value.to_owned(),
                "id" => self.current.id = Some(value.to_owned()),
                "data" => {
                    if !self.current.data.is_empty() {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Calls `on_event` for every event of `response` until the stream ends.
pub async fn for_each_event(
    response: reqwest::Response,
    mut on_event: impl FnMut(SseEvent) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut parser = SseParser::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        for event in parser.push(&String::from_utf8_lossy(&chunk))? {
            on_event(event)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.push("event: intent\nid: ab").unwrap().is_empty());
        let events = p.push("c\ndata: {\"x\":1}\n\n: keep-alive\n\n").unwrap();
        assert_eq!(
            events,
            vec![SseEvent {
                event: "intent".into(),
                id: Some("abc".into()),
                data: "{\"x\":1}".into()
            }]
        );
    }
}
