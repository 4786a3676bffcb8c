//! Weaviate's name rules (CONTRACT.md 1.2): a class name's first letter is uppercased and a
//! property name's first letter lowercased wherever a name is taken, then checked.

/// `article` and `Article` are the same collection; Weaviate always answers `Article`.
pub fn class_name(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Objects sent with `{"Title": ..}` are stored as `{"title": ..}`.
pub fn property_name(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Whether two names address the same property (they agree once the first letter is
/// lowercased), without building either.
pub fn same_property(a: &str, b: &str) -> bool {
    let mut x = a.chars();
    let mut y = b.chars();
    match (x.next(), y.next()) {
        (Some(p), Some(q)) => p.to_lowercase().eq(q.to_lowercase()) && x.as_str() == y.as_str(),
        (None, None) => true,
        _ => false,
    }
}

/// `^[A-Z][_0-9A-Za-z]{0,254}$`, checked after uppercasing; `raft` is reserved.
pub fn check_class_name(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !name.eq_ignore_ascii_case("raft");
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid class name"))
    }
}

/// `^[_A-Za-z][_0-9A-Za-z]{0,230}$`, and not one of the reserved names.
pub fn check_property_name(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 231
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !matches!(name, "_additional" | "_id" | "id");
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid property name"))
    }
}

/// `^[A-Za-z0-9\-_]{1,64}$`.
pub fn check_tenant_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid tenant name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_weaviate() {
        assert_eq!(class_name("article"), "Article");
        assert_eq!(class_name("aRTICLE"), "ARTICLE");
        assert_eq!(property_name("Title"), "title");
        assert!(check_class_name(&class_name("article")).is_ok());
        assert!(check_class_name(&class_name("_foo")).is_err());
        assert!(check_class_name(&class_name("1abc")).is_err());
        assert!(check_class_name("Raft").is_err());
        assert!(check_property_name("id").is_err());
        assert!(check_property_name("_x1").is_ok());
        assert!(check_tenant_name("t-1_a").is_ok());
        assert!(check_tenant_name("x y").is_err());
    }
}
