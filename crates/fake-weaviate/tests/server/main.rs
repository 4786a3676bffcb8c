//! Talks raw HTTP to a started fake-weaviate and checks CONTRACT.md section 11 item by item,
//! and every kind of fault. One test binary, so the suite builds and links once.

mod client;

mod batch;
mod binary;
mod cursor;
mod faults;
mod graphql;
mod objects;
mod routing;
mod schema;
mod tenants;
mod types;
