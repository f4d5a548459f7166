//! Shared helpers for the vector tests: locating the reference folder, reading TSV files and a
//! tiny JSON reader for MANIFEST.json (no serde in the dependency tree).

#![allow(dead_code)]

use memcached_router::{Distribution, HashAlgorithm};
use std::path::PathBuf;

/// The vector folder: `$MEMCACHED_ROUTER_VECTORS` if set (to check another generated set),
/// else `<workspace>/../shared/reference/ketama-vectors`. Panics with a clear message if absent.
pub fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("MEMCACHED_ROUTER_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/ketama-vectors"),
    };
    assert!(
        dir.join("MANIFEST.json").is_file(),
        "ketama reference vectors not found: expected {}/MANIFEST.json \
         (the folder shared/reference/ketama-vectors next to the workspace, \
         or set MEMCACHED_ROUTER_VECTORS)",
        dir.display()
    );
    dir
}

/// libmemcached `memcached_hash_t` numbering (php `Memcached::HASH_*`).
pub fn hash_from_libmemcached(id: u64) -> HashAlgorithm {
    match id {
        0 => HashAlgorithm::OneAtATime,
        1 => HashAlgorithm::Md5,
        2 => HashAlgorithm::Crc,
        3 => HashAlgorithm::Fnv1_64,
        4 => HashAlgorithm::Fnv1a64,
        5 => HashAlgorithm::Fnv1_32,
        6 => HashAlgorithm::Fnv1a32,
        8 => HashAlgorithm::Murmur,
        9 => HashAlgorithm::Jenkins,
        10 => HashAlgorithm::Murmur3,
        other => panic!("unsupported libmemcached hash id {other}"),
    }
}

/// libmemcached `memcached_server_distribution_t` numbering (php `Memcached::DISTRIBUTION_*`,
/// as `getOption(OPT_DISTRIBUTION)` reads it back); `libketama_compatible` is whether
/// `OPT_LIBKETAMA_COMPATIBLE` (option 16) was set, which makes ketama weighted.
pub fn distribution_from_libmemcached(id: u64, libketama_compatible: bool) -> Distribution {
    match id {
        0 => Distribution::Modula,
        1 | 3 => Distribution::Consistent,
        4 => Distribution::KetamaSpy { weighted: libketama_compatible },
        5 => Distribution::KetamaWeighted,
        other => panic!("unsupported libmemcached distribution {other}"),
    }
}

/// Decodes lowercase hex.
pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex length: {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Rows of a TSV file as (header, rows), each row split on tabs.
pub fn read_tsv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().expect("header line").split('\t').map(str::to_owned).collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// Column index by name.
pub fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name:?} in {header:?}"))
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }
    pub fn as_object(&self) -> &[(String, Json)] {
        match self {
            Json::Object(fields) => fields,
            other => panic!("not an object: {other:?}"),
        }
    }
    pub fn as_u64(&self) -> u64 {
        match self {
            Json::Number(n) => *n as u64,
            Json::Bool(b) => *b as u64,
            other => panic!("not a number: {other:?}"),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Json::Text(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    pub fn truthy(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            Json::Number(n) => *n != 0.0,
            Json::Null => false,
            _ => true,
        }
    }

    pub fn parse(text: &str) -> Json {
        let mut parser = JsonParser { bytes: text.as_bytes(), at: 0 };
        let value = parser.value();
        parser.skip_ws();
        assert_eq!(parser.at, parser.bytes.len(), "trailing data in JSON");
        value
    }
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn skip_ws(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }
    fn eat(&mut self, b: u8) {
        self.skip_ws();
        assert_eq!(
            self.bytes.get(self.at),
            Some(&b),
            "JSON: expected {:?} at {}",
            b as char,
            self.at
        );
        self.at += 1;
    }
    /// The comma-separated elements of an object or array, from after its opening bracket
    /// through `close`.
    fn list<T>(&mut self, close: u8, mut element: impl FnMut(&mut Self) -> T) -> Vec<T> {
        self.at += 1;
        let mut elements = Vec::new();
        self.skip_ws();
        if self.bytes[self.at] == close {
            self.at += 1;
            return elements;
        }
        loop {
            elements.push(element(self));
            self.skip_ws();
            let b = self.bytes[self.at];
            self.at += 1;
            if b == close {
                return elements;
            }
            assert_eq!(b, b',', "JSON: expected , or {:?}", close as char);
        }
    }
    fn value(&mut self) -> Json {
        self.skip_ws();
        match self.bytes[self.at] {
            b'{' => Json::Object(self.list(b'}', |p| {
                p.skip_ws();
                let key = p.string();
                p.eat(b':');
                (key, p.value())
            })),
            b'[' => Json::Array(self.list(b']', Self::value)),
            b'"' => Json::Text(self.string()),
            b't' => {
                self.at += 4;
                Json::Bool(true)
            }
            b'f' => {
                self.at += 5;
                Json::Bool(false)
            }
            b'n' => {
                self.at += 4;
                Json::Null
            }
            _ => {
                let start = self.at;
                while self.at < self.bytes.len()
                    && matches!(self.bytes[self.at], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
                Json::Number(text.parse().unwrap_or_else(|_| panic!("JSON: bad number {text:?}")))
            }
        }
    }
    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let b = self.bytes[self.at];
            self.at += 1;
            match b {
                b'"' => return String::from_utf8(out).expect("utf-8 JSON string"),
                b'\\' => {
                    let e = self.bytes[self.at];
                    self.at += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex =
                                std::str::from_utf8(&self.bytes[self.at..self.at + 4]).unwrap();
                            self.at += 4;
                            let code = u32::from_str_radix(hex, 16).unwrap();
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}
