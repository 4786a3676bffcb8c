//! The store flags every data command takes, in one place: `--store` and the Weaviate
//! client's timeouts and retries. The API key is never a flag (it would show in `ps` and in
//! shell history); it comes from `WEAVIATE_API_KEY`.

use std::time::Duration;

use ely_store::{Location, OpenOptions, Store};

#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The store: a Weaviate URL (http:// or https://) or the path of an embedded store.
    /// Default: $ELY_STORE, then $WEAVIATE_URL, then $ELY_HOME/store.db
    /// (ELY_HOME defaults to ~/.local/share/ely). The API key comes from $WEAVIATE_API_KEY.
    #[arg(long, value_name = "URL|PATH")]
    pub store: Option<String>,

    /// Time allowed to connect to Weaviate.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Time allowed for one request and its answer.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Retries of a request that failed with 429, 408, 5xx or a network error (with
    /// exponential backoff and jitter, honouring Retry-After).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub retries: u32,

    /// Batch requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub in_flight: u32,
}

impl StoreArgs {
    /// Where the store is, from the flag and then the environment.
    pub fn location(&self) -> ely_store::Result<Location> {
        ely_store::resolve(self.store.as_deref(), |k| std::env::var(k).ok())
    }

    /// The client options these flags ask for, with the API key from the environment.
    pub fn options(&self) -> OpenOptions {
        OpenOptions {
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            retries: self.retries,
            in_flight: self.in_flight as usize,
            ..OpenOptions::from_env()
        }
    }

    pub fn open(&self) -> ely_store::Result<Box<dyn Store>> {
        ely_store::open(&self.location()?, &self.options())
    }
}

/// `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (use e.g. 500ms, 10s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        store: StoreArgs,
    }

    #[test]
    fn flags_have_sane_defaults_and_parse_durations() {
        let c = Cmd::try_parse_from(["x"]).expect("defaults");
        let o = c.store.options();
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert_eq!(o.timeout, Duration::from_secs(120));
        assert_eq!((o.retries, o.in_flight), (8, 4));
        let c = Cmd::try_parse_from([
            "x",
            "--store",
            "/tmp/s.db",
            "--timeout",
            "1.5m",
            "--connect-timeout",
            "250ms",
        ])
        .expect("flags");
        assert_eq!(c.store.timeout, Duration::from_secs(90));
        assert_eq!(c.store.connect_timeout, Duration::from_millis(250));
        assert_eq!(
            c.store.location().expect("location"),
            Location::Embedded("/tmp/s.db".into())
        );
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(Cmd::try_parse_from(["x", "--in-flight", "0"]).is_err());
    }
}
