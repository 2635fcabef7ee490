//! A reference path normaliser, written from the RFCs and Envoy's documented options rather
//! than from `jitgate_grant::route`, to check that a path the gate accepts is already in the
//! form a normalising proxy or upstream would turn it into.
//!
//! The steps, in the order a lenient upstream applies them: percent-decode the octets that
//! RFC 3986 §6.2.2.2 says must be decoded (unreserved characters) and the ones Envoy's
//! `path_with_escaped_slashes_action` and many frameworks decode (`/`, `\`); turn `\` into
//! `/` (WHATWG URL parsing does for http URLs); merge repeated slashes (Envoy's
//! `merge_slashes`); remove dot segments (RFC 3986 §5.2.4).
//! If the gate accepted a path that this changes, the gate and the upstream could disagree
//! about which resource was asked for.

/// The path as a normalising upstream would see it.
pub fn normalise(path: &str) -> String {
    let decoded = decode_unreserved_and_slashes(path);
    let forward = decoded.replace('\\', "/");
    let merged = merge_slashes(&forward);
    remove_dot_segments(&merged)
}

/// RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
pub fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn decode_unreserved_and_slashes(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2])) {
                let byte = high * 16 + low;
                if is_unreserved(byte) || byte == b'/' || byte == b'\\' {
                    out.push(byte);
                    index += 3;
                    continue;
                }
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    // Only ASCII was decoded, so the text stays UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// RFC 3986 §5.2.4, on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate().skip(1) {
        match *segment {
            "." => {
                if index == last {
                    output.push("");
                }
            }
            ".." => {
                output.pop();
                if index == last {
                    output.push("");
                }
            }
            other => output.push(other),
        }
    }
    let mut result = String::with_capacity(path.len());
    for segment in &output {
        result.push('/');
        result.push_str(segment);
    }
    if result.is_empty() {
        result.push('/');
    }
    result
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn follows_the_rfc_examples() {
        assert_eq!(normalise("/a/b/c/./../../g"), "/a/g");
        assert_eq!(normalise("/mid/content=5/../6"), "/mid/6");
        assert_eq!(normalise("/v1//files"), "/v1/files");
        assert_eq!(normalise("/v1/%2e%2E/admin"), "/admin");
        assert_eq!(normalise("/v1/%66iles%2Fx"), "/v1/files/x");
        assert_eq!(normalise("/v1\\files"), "/v1/files");
        assert_eq!(normalise("/v1/files/"), "/v1/files/");
        assert_eq!(normalise("/v1/files/.."), "/v1/");
        assert_eq!(normalise("/v1/caf%C3%A9"), "/v1/caf%C3%A9");
        assert_eq!(normalise("/"), "/");
    }
}
