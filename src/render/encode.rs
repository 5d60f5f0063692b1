//! User data on the wire: EC2 takes at most 16 KiB before base64. Text that fits is sent as
//! it is (readable in the console); larger text is gzipped, which cloud-init unpacks itself.
//! The compression is deterministic (no timestamp), so the same text gives the same bytes.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// EC2's limit on user data, in bytes before base64.
pub const MAX_USER_DATA: usize = 16 * 1024;

/// The bytes to send for `text`: itself when it fits, else gzip (the caller checks the
/// result's size against [`MAX_USER_DATA`]).
pub fn encode_user_data(text: &str) -> Vec<u8> {
    if text.len() <= MAX_USER_DATA {
        return text.as_bytes().to_vec();
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(text.as_bytes());
    encoder.finish().unwrap_or_default()
}

/// The text of user data read back from AWS: gunzipped when it is gzip.
pub fn decode_user_data(bytes: &[u8]) -> String {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        if GzDecoder::new(bytes).read_to_string(&mut text).is_ok() {
            return text;
        }
    }
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_text_is_sent_as_is_and_large_text_gzipped_and_both_read_back() {
        let small = "#cloud-config\nruncmd: []\n";
        assert_eq!(encode_user_data(small), small.as_bytes());
        assert_eq!(decode_user_data(&encode_user_data(small)), small);
        let large = format!("#cloud-config\n# {}\n", "x".repeat(MAX_USER_DATA));
        let bytes = encode_user_data(&large);
        assert!(bytes.starts_with(&[0x1f, 0x8b]) && bytes.len() < MAX_USER_DATA);
        assert_eq!(encode_user_data(&large), bytes, "deterministic");
        assert_eq!(decode_user_data(&bytes), large);
    }
}
