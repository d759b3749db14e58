//! How S3 writes an object key in a URL-encoded listing (`encoding-type=url`) and in an event
//! notification: RFC 3986's unreserved characters and `/` stay, a space becomes `+`, and every other
//! byte of the key's UTF-8 is `%XX`. The sandbox encodes with [`encode`]; the notifier and the
//! subscriber decode S3's events with [`decode`].

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The bytes S3 escapes: all but letters, digits, `-`, `_`, `.`, `~` and `/`.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// `key` as S3 encodes it.
pub fn encode(key: &str) -> String {
    // A `%` of the key itself is escaped to `%25`, so every `%20` left is an escaped space.
    utf8_percent_encode(key, ESCAPED).to_string().replace("%20", "+")
}

/// A key whose escapes decode to bytes that are not UTF-8 (S3 keys always are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUtf8 {
    /// The key with each invalid sequence replaced by U+FFFD.
    pub lossy: String,
}

/// The key S3 encoded as `encoded`: `+` is a space, `%XX` a byte.
pub fn decode(encoded: &str) -> Result<String, NotUtf8> {
    let plus_as_space = encoded.replace('+', " ");
    let bytes: Vec<u8> = percent_decode_str(&plus_as_space).collect();
    String::from_utf8(bytes)
        .map_err(|invalid| NotUtf8 { lossy: String::from_utf8_lossy(invalid.as_bytes()).into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_encodes_them() {
        assert_eq!(
            encode("Missouri Open Loop sample output/a+b ü.txt"),
            "Missouri+Open+Loop+sample+output/a%2Bb+%C3%BC.txt"
        );
        assert_eq!(encode("p/a+b c%d*.txt"), "p/a%2Bb+c%25d%2A.txt");
        assert_eq!(encode("plain-key_1.~"), "plain-key_1.~");
        assert_eq!(encode("100%20"), "100%2520", "a literal %20 is not a space");
    }

    #[test]
    fn keys_decode_as_s3_encodes_them() {
        assert_eq!(decode("Missouri+Open+Loop%2Fa%2Bb+%C3%BC.txt").as_deref(), Ok("Missouri Open Loop/a+b ü.txt"));
        assert_eq!(decode("100%25+done").as_deref(), Ok("100% done"));
        assert_eq!(decode("a&b=c").as_deref(), Ok("a&b=c"));
        assert_eq!(decode("bad%FFbyte"), Err(NotUtf8 { lossy: "bad\u{FFFD}byte".to_owned() }));
        for key in ["a b/c+d%e ü/&=?#", "", " ", "%", "%%", "++"] {
            assert_eq!(decode(&encode(key)).as_deref(), Ok(key), "{key:?} round-trips");
        }
    }
}
