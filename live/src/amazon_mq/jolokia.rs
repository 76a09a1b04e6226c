//! ActiveMQ's queue MBean read through Jolokia (the web console's `/api/jolokia`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::header::{HeaderValue, LOCATION, ORIGIN};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use stepscale_engine::config::Secret;
use tracing::debug;

use super::settings::Settings;
use super::{error_chain, redact};
use crate::secrets::http_error;
use crate::ProbeError;

/// The attributes read: one request gives all three.
const ATTRIBUTES: &str = "QueueSize,InFlightCount,ConsumerCount";

/// What Jolokia says of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QueueStats {
    /// Messages in the queue, dispatched-but-unacknowledged ones included.
    pub(super) queue_size: u64,
    /// Messages dispatched to consumers and not yet acknowledged.
    pub(super) in_flight: u64,
    /// Consumers on the queue.
    pub(super) consumers: u64,
}

/// A Jolokia client for one broker: one base URL per console (two for active/standby).
pub(super) struct Jolokia {
    client: Client,
    /// Base URLs without a trailing slash; checked to hold no credentials.
    bases: Vec<String>,
    /// JMX `brokerName`, or none for the pattern `*`.
    broker_name: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    timeout_secs: u64,
    /// The base that answered last: an active/standby pair is asked there first.
    preferred: AtomicUsize,
}

impl Jolokia {
    /// A client for `bases`; nothing is requested yet.
    pub(super) fn new(settings: &Settings, bases: Vec<String>) -> Result<Self, ProbeError> {
        if bases.is_empty() {
            return Err(ProbeError::Config(format!(
                "DescribeBroker gave broker {} no console URL; set amazon_mq `jolokia_url`",
                settings.broker_id
            )));
        }
        let client = Client::builder()
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            // A redirect is a login page or a standby console, never the data: it is
            // reported, not followed (following would also drop the credentials).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProbeError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            client,
            bases,
            broker_name: settings.jolokia_broker_name.clone(),
            username: settings.username.clone(),
            password: settings.password.clone(),
            timeout_secs: settings.timeout.as_secs(),
            preferred: AtomicUsize::new(0),
        })
    }

    /// Reads `queue` from the first console that answers, starting with the one that
    /// answered last. A missing queue ends the read at once: that console is the active one.
    pub(super) async fn read(&self, queue: &str) -> Result<QueueStats, ProbeError> {
        let first = self.preferred.load(Ordering::Relaxed) % self.bases.len();
        let mut failures = Vec::new();
        for i in (0..self.bases.len()).map(|k| (first + k) % self.bases.len()) {
            match self.read_at(&self.bases[i], queue).await {
                Ok(stats) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(stats);
                }
                Err(e @ ProbeError::NotFound { .. }) => return Err(e),
                Err(e) => {
                    debug!(jolokia = %self.bases[i], error = %e, "Jolokia read failed.");
                    failures.push(e);
                }
            }
        }
        if failures.len() == 1 {
            return Err(failures.remove(0));
        }
        Err(ProbeError::Other {
            target: format!("Jolokia ({} consoles)", self.bases.len()),
            detail: failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        })
    }

    async fn read_at(&self, base: &str, queue: &str) -> Result<QueueStats, ProbeError> {
        let mbean = mbean(self.broker_name.as_deref(), queue);
        let url = format!("{base}/read/{}/{ATTRIBUTES}", escape_path(&mbean));
        let target = format!("Jolokia at {base}");
        let mut request = self.client.get(&url);
        // Jolokia's CORS strict checking (ActiveMQ 5.16+) refuses requests without an
        // Origin; the console's own origin is what a browser on it would send.
        if let Some(origin) = origin_of(base) {
            request = request.header(ORIGIN, origin);
        }
        if let Some(user) = &self.username {
            request = request.basic_auth(user, self.password.as_ref().map(Secret::expose));
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&target, &e))?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        // Jolokia answers text/plain: the body is read as text and parsed as JSON whatever
        // the content type says.
        let body = response
            .text()
            .await
            .map_err(|e| self.transport_error(&target, &e))?;
        debug!(jolokia = %base, status = status.as_u16(), "Jolokia answered.");
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(ProbeError::Auth {
                    target,
                    detail: format!(
                        "HTTP {status} from the console (the user needs console access: \
                         `consoleAccess` on Amazon MQ)"
                    ),
                })
            }
            s if s.is_redirection() => {
                return Err(ProbeError::Other {
                    target,
                    detail: format!(
                        "HTTP {status} redirect to {} instead of Jolokia (a standby broker's \
                         console, or a login page)",
                        location.as_deref().map_or("an unnamed place".into(), |l| {
                            redact(l, self.password.as_ref().map(Secret::expose))
                        })
                    ),
                })
            }
            s if !s.is_success() => {
                return Err(ProbeError::Other {
                    target,
                    detail: format!("HTTP {status} from the console (is `jolokia_url` right?)"),
                })
            }
            _ => {}
        }
        parse(&body, queue).map_err(|e| match e {
            Parsed::NotFound => ProbeError::NotFound {
                what: "queue",
                name: match &self.broker_name {
                    Some(b) => format!("{queue} (ActiveMQ broker {b})"),
                    None => queue.to_string(),
                },
            },
            Parsed::Auth(detail) => ProbeError::Auth {
                target,
                detail: redact(&detail, self.password.as_ref().map(Secret::expose)),
            },
            Parsed::Config(detail) => ProbeError::Config(detail),
            Parsed::Other(detail) => ProbeError::Other {
                target,
                detail: redact(&detail, self.password.as_ref().map(Secret::expose)),
            },
        })
    }

    fn transport_error(&self, target: &str, error: &reqwest::Error) -> ProbeError {
        http_error(
            target,
            error,
            self.password.as_ref().map(Secret::expose),
            self.timeout_secs,
        )
    }
}

/// The origin (`scheme://host[:port]`) of `base`, as a header value.
fn origin_of(base: &str) -> Option<HeaderValue> {
    let url = reqwest::Url::parse(base).ok()?;
    HeaderValue::from_str(&url.origin().ascii_serialization()).ok()
}

/// The queue's MBean name. ActiveMQ encodes names the way `JMXSupport.encodeObjectNamePart`
/// does; without a broker name the `*` pattern matches the JVM's only broker.
fn mbean(broker_name: Option<&str>, queue: &str) -> String {
    format!(
        "org.apache.activemq:type=Broker,brokerName={},destinationType=Queue,destinationName={}",
        broker_name.map_or_else(|| "*".to_string(), encode_object_name_part),
        encode_object_name_part(queue)
    )
}

/// ActiveMQ's `JMXSupport.encodeObjectNamePart`: `: , ' "` become `_`, `?` `&qe;`,
/// `=` `&amp;` and `*` `&ast;` (so a name never acts as a pattern).
fn encode_object_name_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        match c {
            ':' | ',' | '\'' | '"' => out.push('_'),
            '?' => out.push_str("&qe;"),
            '=' => out.push_str("&amp;"),
            '*' => out.push_str("&ast;"),
            c => out.push(c),
        }
    }
    out
}

/// One segment of a Jolokia GET path: `!`, `/` and `"` escaped with `!` (Jolokia's rule),
/// then percent-encoded for the URL.
fn escape_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 8);
    for c in segment.chars() {
        match c {
            '!' => out.push_str("!!"),
            '/' => out.push_str("!/"),
            '"' => out.push_str("!\""),
            c => out.push(c),
        }
    }
    let mut encoded = String::with_capacity(out.len());
    for b in out.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!*:,=/".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    encoded
}

/// Why a Jolokia answer gave no statistics.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// `"status":404`: no such MBean, so no such queue.
    NotFound,
    /// `"status":401/403` inside the JSON (Jolokia's access policy or CORS check).
    Auth(String),
    /// Several brokers matched the pattern: `jolokia_broker_name` must choose.
    Config(String),
    /// Anything else.
    Other(String),
}

/// Jolokia's JSON answer for the read of one MBean (exact name) or of a pattern.
fn parse(body: &str, queue: &str) -> Result<QueueStats, Parsed> {
    let doc: Value = serde_json::from_str(body).map_err(|_| {
        let start: String = body
            .trim_start()
            .chars()
            .take(30)
            .filter(|c| !c.is_control())
            .collect();
        Parsed::Other(format!(
            "the answer is not Jolokia's JSON (it starts {start:?}): a login page or a \
             standby console?"
        ))
    })?;
    let status = doc.get("status").and_then(Value::as_u64).unwrap_or(0);
    match status {
        200 => {}
        // 404 is also Jolokia's status for a missing attribute: only a missing MBean is a
        // missing queue.
        404 if !error_type(&doc).contains("AttributeNotFound") => return Err(Parsed::NotFound),
        401 | 403 => {
            return Err(Parsed::Auth(format!(
                "Jolokia status {status}: {}",
                error_text(&doc)
            )))
        }
        _ => {
            return Err(Parsed::Other(format!(
                "Jolokia status {status}: {}",
                error_text(&doc)
            )))
        }
    }
    let value = doc
        .get("value")
        .ok_or_else(|| Parsed::Other("Jolokia's answer has no value".into()))?;
    // An exact MBean name gives the attributes; a pattern gives them per matching MBean.
    let attributes = if value.get("QueueSize").is_some() {
        value
    } else {
        let matches: Vec<(&String, &Value)> = value
            .as_object()
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        match matches.as_slice() {
            [] => return Err(Parsed::NotFound),
            [(_, attributes)] => *attributes,
            several => {
                return Err(Parsed::Config(format!(
                    "queue {queue} exists on several ActiveMQ brokers behind this Jolokia ({}); \
                     set amazon_mq `jolokia_broker_name`",
                    several
                        .iter()
                        .map(|(name, _)| name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    };
    let count = |name: &str| {
        attributes
            .get(name)
            .and_then(count_of)
            .ok_or_else(|| Parsed::Other(format!("Jolokia's answer has no count {name}")))
    };
    Ok(QueueStats {
        queue_size: count("QueueSize")?,
        in_flight: count("InFlightCount")?,
        consumers: count("ConsumerCount")?,
    })
}

/// A count as JSON gives it: a non-negative integer (a negative one reads as 0).
fn count_of(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_i64().map(|v| v.max(0).unsigned_abs()))
        .or_else(|| {
            value
                .as_f64()
                .filter(|v| v.is_finite())
                .map(|v| v.max(0.0).round() as u64)
        })
}

fn error_type(doc: &Value) -> &str {
    doc.get("error_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Jolokia's error type and text, without its stack trace.
fn error_text(doc: &Value) -> String {
    let text = doc
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no error text");
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::{count_of, encode_object_name_part, escape_path, mbean, parse, Parsed, QueueStats};
    use serde_json::json;

    #[test]
    fn names_are_encoded_as_activemq_registers_them() {
        let cases = [
            ("orders", "orders"),
            ("a:b,c'd\"e", "a_b_c_d_e"),
            ("x?y", "x&qe;y"),
            ("k=v", "k&amp;v"),
            ("all*", "all&ast;"),
            ("x/y!z q", "x/y!z q"),
        ];
        for (name, encoded) in cases {
            assert_eq!(encode_object_name_part(name), encoded, "{name}");
        }
    }

    #[test]
    fn the_mbean_uses_a_pattern_without_a_broker_name() {
        assert_eq!(
            mbean(None, "orders"),
            "org.apache.activemq:type=Broker,brokerName=*,destinationType=Queue,destinationName=orders"
        );
        assert_eq!(
            mbean(Some("localhost"), "a*"),
            "org.apache.activemq:type=Broker,brokerName=localhost,destinationType=Queue,destinationName=a&ast;"
        );
    }

    #[test]
    fn path_segments_escape_slashes_and_bangs_then_percent_encode() {
        assert_eq!(escape_path("x/y!z q"), "x!/y!!z%20q");
        assert_eq!(escape_path("a&amp;b"), "a%26amp%3Bb");
        assert_eq!(
            escape_path("org.apache.activemq:type=Broker,brokerName=*"),
            "org.apache.activemq:type=Broker,brokerName=*"
        );
    }

    #[test]
    fn exact_and_pattern_answers_give_the_counts() {
        let stats = QueueStats {
            queue_size: 10,
            in_flight: 3,
            consumers: 1,
        };
        let exact = json!({"status": 200, "value": {"QueueSize": 10, "InFlightCount": 3, "ConsumerCount": 1}});
        assert_eq!(parse(&exact.to_string(), "q"), Ok(stats));
        let pattern = json!({"status": 200, "value": {
            "org.apache.activemq:brokerName=localhost,destinationName=q,destinationType=Queue,type=Broker":
                {"QueueSize": 10, "InFlightCount": 3, "ConsumerCount": 1}
        }});
        assert_eq!(parse(&pattern.to_string(), "q"), Ok(stats));
    }

    #[test]
    fn failures_inside_a_200_answer_are_typed() {
        let missing = json!({"status": 404, "error_type": "javax.management.InstanceNotFoundException",
            "error": "javax.management.InstanceNotFoundException : org.apache.activemq:...", "stacktrace": "..."});
        assert_eq!(parse(&missing.to_string(), "q"), Err(Parsed::NotFound));
        let forbidden =
            json!({"status": 403, "error": "Origin null is not allowed to call this agent"});
        assert!(
            matches!(parse(&forbidden.to_string(), "q"), Err(Parsed::Auth(t)) if t.contains("Origin"))
        );
        let broken =
            json!({"status": 500, "error": "boom", "stacktrace": "at a.b.C\n".repeat(100)});
        let Err(Parsed::Other(text)) = parse(&broken.to_string(), "q") else {
            panic!("a 500 status is another error");
        };
        assert!(
            text.contains("500") && text.contains("boom") && !text.contains("a.b.C"),
            "{text}"
        );
        let several =
            json!({"status": 200, "value": {"m1": {"QueueSize": 1}, "m2": {"QueueSize": 2}}});
        assert!(
            matches!(parse(&several.to_string(), "q"), Err(Parsed::Config(t)) if t.contains("jolokia_broker_name"))
        );
        let empty = json!({"status": 200, "value": {}});
        assert_eq!(parse(&empty.to_string(), "q"), Err(Parsed::NotFound));
        let partial = json!({"status": 200, "value": {"QueueSize": 1, "ConsumerCount": 0}});
        assert!(
            matches!(parse(&partial.to_string(), "q"), Err(Parsed::Other(t)) if t.contains("InFlightCount"))
        );
    }

    #[test]
    fn an_html_page_is_not_json() {
        let Err(Parsed::Other(text)) = parse("<!DOCTYPE html><html>login</html>", "q") else {
            panic!("HTML is an error");
        };
        assert!(text.contains("login page"), "{text}");
    }

    #[test]
    fn counts_are_read_from_any_json_number() {
        assert_eq!(count_of(&json!(7)), Some(7));
        assert_eq!(count_of(&json!(-2)), Some(0));
        assert_eq!(count_of(&json!(4.0)), Some(4));
        assert_eq!(count_of(&json!("7")), None);
    }
}
