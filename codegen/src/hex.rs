//! Memory-image words (`docs/hardware.md` §8): one word per line, lower-case hex, exactly
//! `ceil(width/4)` digits, two's complement for signed values.

/// Lower-case hex of a word given as little-endian bits (`ceil(bits.len()/4)` digits).
pub fn hex_bits(bits: &[bool]) -> String {
    let digits = bits.len().div_ceil(4);
    let mut s = String::with_capacity(digits + 1);
    for d in (0..digits).rev() {
        let mut v = 0u8;
        for b in 0..4 {
            if bits.get(d * 4 + b).copied().unwrap_or(false) {
                v |= 1 << b;
            }
        }
        s.push(char::from_digit(u32::from(v), 16).unwrap_or('0'));
    }
    s
}

/// `value` as a `width`-bit two's-complement hex word (bits above 63 copy the sign).
pub fn hex_word(value: i64, width: u32) -> String {
    let bits: Vec<bool> = (0..width)
        .map(|i| {
            if i < 64 {
                (value >> i) & 1 == 1
            } else {
                value < 0
            }
        })
        .collect();
    hex_bits(&bits)
}

/// A memory image: `words` one per line.
pub fn image(words: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut s = String::new();
    for w in words {
        s.push_str(&w);
        s.push('\n');
    }
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_have_exactly_the_declared_digits() {
        assert_eq!(hex_word(-1, 8), "ff");
        assert_eq!(hex_word(-2, 6), "3e");
        assert_eq!(hex_word(5, 13), "0005");
        assert_eq!(hex_word(-1, 66), "3ffffffffffffffff");
        assert_eq!(hex_bits(&[true, false, true]), "5");
        assert_eq!(image(["1".to_string(), "a".to_string()]), b"1\na\n");
    }
}
