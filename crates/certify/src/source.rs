//! Reading and writing the files the certification tools work on, safely.
//!
//! Every input is read with a size limit before it is parsed: a checklist is a few kilobytes, so a 50 MB
//! "PRODUCT.yaml" is a mistake (or an attack) that must end in a clear error, not in a parser chewing
//! through it. Outputs are written to a temporary file beside the target and renamed into place, so a
//! failure never leaves a half-written PRODUCT.yaml behind.
//!
//! [`Node`] is a YAML value that keeps the order of mapping keys as written: validation and rendering
//! report and show things in the order the vendor wrote them, and `serde_json::Value` (without its
//! `preserve_order` feature, which would change every other crate's JSON) sorts keys.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The most a checklist (template or PRODUCT.yaml) may weigh. The official templates are under 10 KiB;
/// a filled one with long notes stays far below this.
pub const MAX_CHECKLIST_BYTES: u64 = 4 * 1024 * 1024;
/// The most a platform-info file may weigh.
pub const MAX_PLATFORM_INFO_BYTES: u64 = 1024 * 1024;
/// The most a `results.json` or `junit.xml` may weigh (they carry evidence inline, so they can be big).
pub const MAX_RUN_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// Why a file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("failed to read {path}: it is a directory, not a file")]
    IsDirectory { path: PathBuf },
    #[error("failed to read {path}: it is {size}, more than the {limit} such a file can be")]
    TooLarge { path: PathBuf, size: String, limit: String },
    #[error("failed to read {path}: it is not UTF-8 text")]
    NotText { path: PathBuf },
    #[error("failed to read {path}: it is empty")]
    Empty { path: PathBuf },
    #[error("failed to parse {path} as YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("failed to write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Human size, e.g. `50.0 MB`, for error messages.
pub fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads a text file of at most `limit` bytes.
///
/// The size is checked before reading and again while reading (a FIFO or a file that grows has no
/// honest length), so memory use is bounded by `limit` whatever the path points at.
///
/// # Errors
/// When the file cannot be opened or read, is a directory, is larger than `limit`, is empty, or is not
/// UTF-8.
pub fn read_text(path: &Path, limit: u64) -> Result<String, SourceError> {
    let read_err = |source| SourceError::Read { path: path.to_path_buf(), source };
    let too_large = |size: u64| SourceError::TooLarge {
        path: path.to_path_buf(),
        size: human_size(size),
        limit: human_size(limit),
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(SourceError::IsDirectory { path: path.to_path_buf() });
    }
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| SourceError::NotText { path: path.to_path_buf() })?;
    // Editors on some systems write a byte-order mark; it is not part of the YAML.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    if text.trim().is_empty() {
        return Err(SourceError::Empty { path: path.to_path_buf() });
    }
    Ok(text)
}

/// Writes `contents` to `path` through a temporary file in the same folder and a rename, so readers
/// never see a partial file and a failed write leaves any previous file untouched.
///
/// # Errors
/// When the folder does not exist or is not writable.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), SourceError> {
    let write_err = |source| SourceError::Write { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.kaic-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

/// A YAML value with mapping keys in the order they were written.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` in a mapping (the first, if the key repeats).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match self {
            Node::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match self {
            Node::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// What kind of value this is, for messages ("a list", "a number", …).
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "empty",
            Node::Bool(_) => "true/false",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// The scalar as text, for keys and for fields where YAML turned a version like `2.4` into a number.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Null => Some(String::new()),
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Str(s) => Some(s.clone()),
            Node::Seq(_) | Node::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        // Keys are read as text: a key is a name, and `y: 1` must not turn into a `true` key.
        while let Some((key, value)) = map.next_entry::<String, Node>()? {
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// Parses YAML text into a [`Node`]. Duplicate keys are an error (the YAML spec forbids them, and a
/// checklist with two `status:` keys says two things at once).
///
/// # Errors
/// When the text is not a single well-formed YAML document.
pub fn parse_yaml(path: &Path, text: &str) -> Result<Node, SourceError> {
    // YAML 1.2 booleans only: `notes: no` is the word "no", not false.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options::<Node>(text, options)
        .map_err(|e| SourceError::Yaml { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_types() {
        let node = parse_yaml(Path::new("t.yaml"), "b: 1\na: [x, 2.5, true, ~]\nc: {z: 1, y: 2}\nd: no\n").unwrap();
        let keys: Vec<&str> = node.as_map().unwrap().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c", "d"]);
        assert_eq!(node.get("d"), Some(&Node::Str("no".into())));
        assert_eq!(node.get("b"), Some(&Node::Int(1)));
        assert_eq!(
            node.get("a").unwrap().as_seq().unwrap(),
            &[Node::Str("x".into()), Node::Float(2.5), Node::Bool(true), Node::Null]
        );
        let inner: Vec<&str> = node.get("c").unwrap().as_map().unwrap().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(inner, ["z", "y"]);
    }

    #[test]
    fn duplicate_keys_and_broken_yaml_are_errors() {
        assert!(parse_yaml(Path::new("t.yaml"), "a: 1\na: 2\n").is_err());
        let err = parse_yaml(Path::new("t.yaml"), "a: [unclosed\n").unwrap_err();
        assert!(err.to_string().starts_with("failed to parse t.yaml as YAML"), "{err}");
    }

    #[test]
    fn oversized_empty_and_binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        let file = fs::File::create(&big).unwrap();
        file.set_len(50 * 1024 * 1024).unwrap();
        let err = read_text(&big, MAX_CHECKLIST_BYTES).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to read {}: it is 50.0 MiB, more than the 4.0 MiB such a file can be", big.display())
        );
        let empty = dir.path().join("empty.yaml");
        fs::write(&empty, "  \n").unwrap();
        assert!(matches!(read_text(&empty, 10), Err(SourceError::Empty { .. })));
        let binary = dir.path().join("bin.yaml");
        fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(read_text(&binary, 10), Err(SourceError::NotText { .. })));
        assert!(matches!(read_text(dir.path(), 10), Err(SourceError::IsDirectory { .. })));
        assert!(matches!(read_text(&dir.path().join("missing"), 10), Err(SourceError::Read { .. })));
    }

    #[test]
    fn byte_order_mark_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.yaml");
        fs::write(&path, "\u{feff}a: 1\n").unwrap();
        assert_eq!(read_text(&path, 100).unwrap(), "a: 1\n");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.yaml");
        write_atomic(&path, "one").unwrap();
        write_atomic(&path, "two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let err = write_atomic(&dir.path().join("no/such/dir/out.yaml"), "x").unwrap_err();
        assert!(err.to_string().starts_with("failed to write"), "{err}");
    }
}
