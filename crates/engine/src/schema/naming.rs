//! Name conversion between the snake_case keys of a view's `data` JSON and GraphQL's
//! camelCase. Both front ends (schema.json and schema.graphql) and the SDKs use these rules,
//! so a name survives the round trip `camel(snake(x))` for ordinary names.

/// `created_at` → `createdAt`; leading underscores are kept (`_private` → `_private`).
pub fn camel_case(snake: &str) -> String {
    let lead = snake.len() - snake.trim_start_matches('_').len();
    let mut out = String::with_capacity(snake.len());
    out.push_str(&snake[..lead]);
    let mut upper_next = false;
    for c in snake[lead..].chars() {
        if c == '_' {
            upper_next = true;
        } else if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `createdAt` → `created_at`; runs of capitals stay together (`userID` → `user_id`).
pub fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && chars[i - 1] != '_' && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `s` is a GraphQL name (`/[_A-Za-z][_0-9A-Za-z]*/`).
pub fn is_graphql_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Whether `s` may be used as a SQL identifier, optionally schema-qualified (`app.v_order`).
/// Identifiers are the only names ever written into SQL text, so this is deliberately strict.
pub fn is_sql_identifier(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() <= 2 && parts.iter().all(|p| is_graphql_name(p) && p.len() <= 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_and_snake() {
        assert_eq!(camel_case("created_at"), "createdAt");
        assert_eq!(camel_case("subscription_tier"), "subscriptionTier");
        assert_eq!(camel_case("id"), "id");
        assert_eq!(camel_case("_private_x"), "_privateX");
        assert_eq!(snake_case("createdAt"), "created_at");
        assert_eq!(snake_case("userID"), "user_id");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("OrderItem"), "order_item");
        assert_eq!(snake_case("line2Total"), "line2_total");
        for s in ["total_amount", "id", "created_at", "unit_price"] {
            assert_eq!(snake_case(&camel_case(s)), s);
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_sql_identifier("v_order"));
        assert!(is_sql_identifier("app.v_order"));
        assert!(!is_sql_identifier("v_order; drop table x"));
        assert!(!is_sql_identifier("a.b.c"));
        assert!(!is_sql_identifier("1abc"));
    }
}
