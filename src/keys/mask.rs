//! The one masking function for every display of a secret.

/// Length ≤ 8 → all `*`; otherwise first 2 + `*`×(len−4) + last 2; empty → empty.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let len = chars.len();
    if len <= 8 {
        return "*".repeat(len);
    }
    let mut out = String::with_capacity(len);
    out.extend(&chars[..2]);
    out.push_str(&"*".repeat(len - 4));
    out.extend(&chars[len - 2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_like_llxprt() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask("12345678"), "********");
        assert_eq!(mask("123456789"), "12*****89");
        assert_eq!(mask("sk-abcdef123456"), "sk***********56");
    }
}
