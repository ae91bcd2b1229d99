//! Verilog identifiers from untrusted text (model and node names): only ASCII letters, digits
//! and `_` reach the RTL, behind a prefix that makes the identifier legal and unique.

/// A legal, unique Verilog identifier from untrusted text: `prefix` (which must itself be a
/// legal identifier start, e.g. `u_e3_`) followed by the ASCII letters and digits of `raw`
/// (lower-cased, at most 32 of them), every other run of characters becoming one `_`.
pub fn sanitize_ident(prefix: &str, raw: &str) -> String {
    let mut s = String::from(prefix);
    let mut last_us = prefix.ends_with('_');
    let mut n = 0;
    for ch in raw.chars() {
        if n >= 32 {
            break;
        }
        if ch.is_ascii_alphanumeric() {
            s.push(ch.to_ascii_lowercase());
            last_us = false;
            n += 1;
        } else if !last_us {
            s.push('_');
            last_us = true;
        }
    }
    while s.ends_with('_') && s.len() > prefix.len() {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::sanitize_ident;

    #[test]
    fn only_letters_digits_and_underscores_remain() {
        assert_eq!(
            sanitize_ident("u_e0_", "x; endmodule module evil("),
            "u_e0_x_endmodule_module_evil"
        );
        assert_eq!(sanitize_ident("u_e1_", "\\$"), "u_e1_");
        assert_eq!(sanitize_ident("m_", "Tiny Net"), "m_tiny_net");
        assert_eq!(sanitize_ident("u_", &"a".repeat(40)).len(), 2 + 32);
    }
}
