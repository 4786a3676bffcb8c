//! The Weaviate REST client: the [`crate::Store`] interface over Weaviate's `/v1` API,
//! following `shared/weaviate/CONTRACT.md` (section 12 is its checklist).
//!
//! One keep-alive agent carries every request, and one function decides what is retried:
//! 429, 408, 5xx and transport errors (refused, reset or dropped connections, timeouts), with
//! exponential backoff and jitter, or the server's `Retry-After`. Other 4xx answers are final.
//! A batch is judged object by object from the answer's `result`, never by the HTTP status,
//! since Weaviate answers 200 when objects failed. The API key is sent as
//! `Authorization: Bearer` only when one is set, and appears in no message, no `Debug` output
//! and no location.
//!
//! `client` is the HTTP side (requests, retries, errors, authentication, URLs), `store` the
//! `Store` implementation over it, `wire` the answers' types and their one-pass readers.

mod client;
mod store;
mod wire;

pub use client::Weaviate;
pub use store::{Pages, BATCH_SIZE, MAX_PAGE};
