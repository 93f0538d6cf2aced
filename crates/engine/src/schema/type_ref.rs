//! GraphQL type references (`String!`, `[OrderItem!]!`) as written in schema inputs, parsed
//! into the one shape the engine supports: a named type, optionally one list level.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A parsed type reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRef {
    /// The innermost named type.
    pub name: String,
    /// `[T]`: a list of `name`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub list: bool,
    /// The outer value is non-null (`T!` or `[T]!`).
    pub non_null: bool,
    /// For lists, the items are non-null (`[T!]`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub item_non_null: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl TypeRef {
    /// Parses `T`, `T!`, `[T]`, `[T!]`, `[T]!`, `[T!]!`. Nested lists are not supported.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (body, non_null) = match s.strip_suffix('!') {
            Some(b) => (b.trim_end(), true),
            None => (s, false),
        };
        if let Some(inner) = body.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| format!("unbalanced brackets in type `{s}`"))?
                .trim();
            let (name, item_non_null) = match inner.strip_suffix('!') {
                Some(n) => (n.trim_end(), true),
                None => (inner, false),
            };
            if name.starts_with('[') {
                return Err(format!("nested list type `{s}` is not supported"));
            }
            check_name(name, s)?;
            Ok(Self {
                name: name.to_string(),
                list: true,
                non_null,
                item_non_null,
            })
        } else {
            check_name(body, s)?;
            Ok(Self {
                name: body.to_string(),
                list: false,
                non_null,
                item_non_null: false,
            })
        }
    }

    /// A non-list reference to `name`.
    pub fn named(name: &str, non_null: bool) -> Self {
        Self {
            name: name.to_string(),
            list: false,
            non_null,
            item_non_null: false,
        }
    }
}

fn check_name(name: &str, whole: &str) -> Result<(), String> {
    if super::naming::is_graphql_name(name) {
        Ok(())
    } else {
        Err(format!("invalid type reference `{whole}`"))
    }
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.list {
            write!(
                f,
                "[{}{}]",
                self.name,
                if self.item_non_null { "!" } else { "" }
            )?;
        } else {
            f.write_str(&self.name)?;
        }
        if self.non_null {
            f.write_str("!")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for s in [
            "String",
            "String!",
            "[Order]",
            "[Order!]",
            "[Order!]!",
            "[Order]!",
        ] {
            assert_eq!(TypeRef::parse(s).unwrap().to_string(), s);
        }
        assert!(TypeRef::parse("[[Int]]").is_err());
        assert!(TypeRef::parse("[Int").is_err());
        assert!(TypeRef::parse("In-t").is_err());
    }
}
