//! Object ids: UUIDs in the forms Weaviate's `format: uuid` accepts (36 characters with
//! hyphens, or 32 hex digits, either case), their canonical lowercase hyphenated form, the
//! order the cursor walks them in, and name-based (version 5) ids for objects that must keep
//! the same id from run to run. The `uuid` crate does the parsing and formatting.

use uuid::Uuid;

/// The UUID `s` stands for, when it is in a form Weaviate accepts as an object id.
pub fn parse(s: &str) -> Option<Uuid> {
    match s.len() {
        32 | 36 => Uuid::try_parse(s).ok(),
        _ => None,
    }
}

/// Whether `s` is an object id Weaviate accepts.
pub fn is_uuid(s: &str) -> bool {
    parse(s).is_some()
}

/// The lowercase hyphenated form of a UUID given with or without hyphens, in either case.
pub fn canonical_id(s: &str) -> Option<String> {
    parse(s).map(|u| u.hyphenated().to_string())
}

/// As [`parse`], also for a UUID in braces (`{...}`), as filters on `uuid` properties take
/// them.
pub fn parse_loose(s: &str) -> Option<Uuid> {
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    parse(inner)
}

/// The canonical text of `u` (lowercase, hyphenated), without allocating.
pub fn canonical(u: Uuid) -> [u8; 36] {
    let mut out = [0u8; 36];
    u.hyphenated().encode_lower(&mut out);
    out
}

/// The UUID just before `id` in ascending order, canonical, for an inclusive cursor start;
/// `None` for the all-zero UUID (before which there is nothing) or a string that is not a
/// UUID.
pub fn before(id: &str) -> Option<String> {
    let n = parse(id)?.as_u128().checked_sub(1)?;
    Some(Uuid::from_u128(n).hyphenated().to_string())
}

/// The version 5 (SHA-1, name-based) UUID of `name` in `namespace`: the same name always
/// gives the same id, so writing an object again replaces it instead of adding a copy.
pub fn v5(namespace: &Uuid, name: &[u8]) -> Uuid {
    Uuid::new_v5(namespace, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_forms() {
        assert!(is_uuid("6b29fc40-ca47-1067-b31d-00dd010662da"));
        assert!(is_uuid("6b29fc40ca471067b31d00dd010662da"));
        assert!(!is_uuid("6b29fc40-ca47-1067-b31d-00dd010662dz"));
        assert!(!is_uuid("6b29fc40-ca47-1067-b31d00-dd010662da"));
        assert!(!is_uuid("{6b29fc40-ca47-1067-b31d-00dd010662da}"));
        assert!(!is_uuid("urn:uuid:6b29fc40-ca47-1067-b31d-00dd010662da"));
        assert_eq!(
            canonical_id("6B29FC40CA471067B31D00DD010662DA").as_deref(),
            Some("6b29fc40-ca47-1067-b31d-00dd010662da")
        );
    }

    #[test]
    fn canonical_uuids() {
        const ID: &str = "6b29fc40-ca47-1067-b31d-00dd010662da";
        let c =
            |s: &str| parse_loose(s).map(|u| String::from_utf8_lossy(&canonical(u)).into_owned());
        assert_eq!(c(ID).as_deref(), Some(ID));
        assert_eq!(c("6B29FC40CA471067B31D00DD010662DA").as_deref(), Some(ID));
        assert_eq!(
            c("{6B29FC40-CA47-1067-B31D-00DD010662DA}").as_deref(),
            Some(ID)
        );
        assert_eq!(c("6b29fc40-ca47-1067-b31d00-dd010662da"), None);
        assert_eq!(c("6b29fc40-ca47-1067-b31d-00dd010662dg"), None);
        assert_eq!(c("{6b29fc40"), None);
        assert_eq!(c("éééééééééééééééééé"), None);
    }

    #[test]
    fn uuid_before_steps_back_one() {
        let id = "6b29fc40-ca47-1067-b31d-00dd010662a0";
        assert_eq!(before(id).unwrap(), "6b29fc40-ca47-1067-b31d-00dd0106629f");
        assert_eq!(
            before("00000000-0000-0000-0000-000000000100").unwrap(),
            "00000000-0000-0000-0000-0000000000ff"
        );
        assert_eq!(before("00000000-0000-0000-0000-000000000000"), None);
    }

    #[test]
    fn name_based_ids_are_stable() {
        let a = v5(&Uuid::NAMESPACE_URL, b"repo/path.rs");
        assert_eq!(a, v5(&Uuid::NAMESPACE_URL, b"repo/path.rs"));
        assert_ne!(a, v5(&Uuid::NAMESPACE_URL, b"other/path.rs"));
        assert_eq!(a.get_version_num(), 5);
    }
}
