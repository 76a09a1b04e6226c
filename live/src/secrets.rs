//! Keeping secrets out of logs and errors: masking, and error chains joined before masking.

/// `text` with every occurrence of `secret` masked. Server and library messages may echo what
/// they were given (a URL, a password), and none of them may reach a log or an error. An
/// absent or empty secret leaves the text as it is.
#[cfg_attr(
    not(any(
        feature = "rabbitmq",
        feature = "redis",
        feature = "kafka",
        feature = "amazon-mq"
    )),
    allow(
        dead_code,
        reason = "only the broker probes echo secrets; an SQS-only build has none"
    )
)]
pub(crate) fn redact<'a>(text: &str, secret: impl Into<Option<&'a str>>) -> String {
    match secret.into() {
        Some(secret) if !secret.is_empty() => text.replace(secret, "********"),
        _ => text.to_string(),
    }
}

/// `url` with any user-info (`user:password@`) in its authority masked, for an error that
/// names an endpoint the user configured (`AWS_ENDPOINT_URL=http://user:pass@proxy:5000`).
#[cfg_attr(
    not(feature = "aws"),
    allow(dead_code, reason = "only the AWS client names an endpoint")
)]
pub(crate) fn without_userinfo(url: &str) -> String {
    // `scheme//` (kept as written), then the authority up to the path, query or fragment.
    let authority_at = url.find("//").map_or(0, |i| i + 2);
    let (head, rest) = url.split_at(authority_at);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{head}********@{host}{path}"),
        None => url.to_string(),
    }
}

/// An error and its sources, joined, so the cause is not hidden behind a generic message.
/// Mask the result with [`redact`] before it leaves the probe.
#[cfg_attr(
    not(any(
        feature = "aws",
        feature = "rabbitmq",
        feature = "amazon-mq",
        feature = "prometheus"
    )),
    allow(dead_code, reason = "used by the AWS, broker and HTTP probes only")
)]
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A failed HTTP request (a management API, Jolokia, Prometheus) as a probe error about
/// `target`: a timeout is `Timeout`, a refused or unreachable server `Connect`, anything else
/// `Other`; the text is masked of `secret`. reqwest's text holds the URL, which every caller
/// checked to hold no credentials.
#[cfg(any(feature = "rabbitmq", feature = "prometheus"))]
pub(crate) fn http_error(
    target: &str,
    error: &reqwest::Error,
    secret: Option<&str>,
    timeout_secs: u64,
) -> crate::ProbeError {
    let detail = redact(&error_chain(error), secret);
    let target = target.to_string();
    if error.is_timeout() {
        crate::ProbeError::Timeout {
            target,
            secs: timeout_secs,
        }
    } else if error.is_connect() {
        crate::ProbeError::Connect { target, detail }
    } else {
        crate::ProbeError::Other { target, detail }
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, without_userinfo};

    #[test]
    fn user_info_in_an_endpoint_is_masked() {
        assert_eq!(
            without_userinfo("http://alice:s3cret@proxy.internal:5000/x?y"),
            "http://********@proxy.internal:5000/x?y"
        );
        assert_eq!(
            without_userinfo("http://127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(without_userinfo("alice:pw@host:1"), "********@host:1");
        // An `@` after the authority is not user-info.
        assert_eq!(without_userinfo("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn redact_masks_every_occurrence_and_leaves_empty_secrets_alone() {
        assert_eq!(
            redact("a hunter2 b hunter2", "hunter2"),
            "a ******** b ********"
        );
        assert_eq!(redact("a hunter2", Some("hunter2")), "a ********");
        assert_eq!(redact("nothing here", ""), "nothing here");
        assert_eq!(redact("nothing here", None), "nothing here");
    }
}
