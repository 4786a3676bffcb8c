//! Alerts of unattended jobs: a JSON body POSTed to a webhook the user gave, retried on
//! transport errors, 429 and 5xx (four attempts, with backoff), never on other answers. A
//! webhook URL often carries a token in its path or query (Slack's do), so it is only ever
//! shown as its scheme and host, in messages and in what is recorded.

use std::time::Duration;

/// How many times an alert is tried.
const ATTEMPTS: u32 = 4;

/// A webhook URL as it may be shown: scheme and host only (the rest may be a secret token).
pub fn shown_url(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let host = host.rsplit('@').next().unwrap_or(host);
    let more = if host_end < rest.len() { "/..." } else { "" };
    format!("{}{host}{more}", &url[..scheme_end])
}

/// Checks a webhook URL given by `--alert-webhook`: http or https only. The error shows the
/// URL as [`shown_url`] does.
pub fn check_url(url: &str) -> Result<(), String> {
    let l = url.to_ascii_lowercase();
    match l.starts_with("http://") || l.starts_with("https://") {
        true => Ok(()),
        false => Err(format!(
            "--alert-webhook {}: give an http:// or https:// URL",
            shown_url(url)
        )),
    }
}

/// This machine's name, for an alert to say where it comes from.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// POSTs `body` (JSON) to `url`. `Ok` names where it went (shown form); `Err` says why it
/// was not delivered after every attempt. Neither holds the whole URL.
pub fn post(url: &str, body: &[u8]) -> Result<String, String> {
    let shown = shown_url(url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(250 << attempt));
        }
        match agent
            .post(url)
            .header("content-type", "application/json")
            .send(body)
        {
            Ok(resp) if resp.status().is_success() => return Ok(shown),
            Ok(resp) => {
                let status = resp.status().as_u16();
                last = format!("{shown} answered {status}");
                if !(status == 429 || status >= 500) {
                    break;
                }
            }
            Err(e) => last = format!("{shown}: {}", e.to_string().replace(url, &shown)),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_scheme_and_host_only() {
        assert_eq!(
            shown_url("https://hooks.example.com/services/T0/SECRET"),
            "https://hooks.example.com/..."
        );
        assert_eq!(shown_url("http://u:p@h:8080"), "http://h:8080");
        assert_eq!(shown_url("http://h:8080?token=x"), "http://h:8080/...");
    }

    #[test]
    fn an_unreachable_webhook_is_an_error_without_its_token() {
        let err = post("http://127.0.0.1:9/hook/SECRET", b"{}").unwrap_err();
        assert!(err.starts_with("http://127.0.0.1:9/..."), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}
