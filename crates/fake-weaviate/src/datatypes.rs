//! Property data type names: the primitive types Weaviate knows, and the rule that makes any
//! other name starting with an uppercase letter a cross-reference to that class. The schema
//! checks definitions with them, properties check values, and the state picks out a class's
//! cross-reference properties.

const PRIMITIVES: [&str; 20] = [
    "text",
    "text[]",
    "int",
    "int[]",
    "number",
    "number[]",
    "boolean",
    "boolean[]",
    "date",
    "date[]",
    "uuid",
    "uuid[]",
    "geoCoordinates",
    "phoneNumber",
    "blob",
    "blobHash",
    "object",
    "object[]",
    "string",
    "string[]",
];

pub(crate) fn is_primitive(dt: &str) -> bool {
    PRIMITIVES.contains(&dt)
}

/// A cross-reference data type is a class name, which starts with an uppercase letter.
pub(crate) fn is_ref_type(dt: &str) -> bool {
    dt.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
}
