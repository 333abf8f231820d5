//! Tracepoints as the running kernel describes them under tracefs: which exist, and
//! the layout of each one's record (`events/<category>/<name>/format`).

use std::fs;
use std::path::{Path, PathBuf};

/// How a tracepoint field is typed for scripts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Integer (or pointer) of `size` bytes.
    Int { signed: bool },
    /// `char name[N]`: an inline NUL-padded string.
    CharArray,
    /// `__data_loc char[] name`: a u32 holding `(len << 16) | offset` into the record.
    DataLocString,
    /// Any other array or `__data_loc` of non-chars: readable only as raw bytes.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The C declaration's type as written (`unsigned int`, `const char *`).
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub kind: FieldKind,
    pub is_pointer: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// The record's own fields (the `common_*` header fields are left out).
    pub fields: Vec<Field>,
}

impl Format {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The tracefs mount point: `/sys/kernel/tracing`, else the debugfs location.
pub fn root() -> Option<PathBuf> {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// Parse a `format` file's text.
pub fn parse_format(text: &str) -> Format {
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        if let Some(field) = parse_field_line(rest) {
            if !field.name.starts_with("common_") {
                fields.push(field);
            }
        }
    }
    Format { fields }
}

/// `unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;`
fn parse_field_line(rest: &str) -> Option<Field> {
    let mut parts = rest.split(';').map(str::trim);
    let decl = parts.next()?;
    let mut offset = None;
    let mut size = None;
    let mut signed = false;
    for p in parts {
        if let Some(v) = p.strip_prefix("offset:") {
            offset = v.parse().ok();
        } else if let Some(v) = p.strip_prefix("size:") {
            size = v.parse().ok();
        } else if let Some(v) = p.strip_prefix("signed:") {
            signed = v == "1";
        }
    }
    let (c_type, name, array) = split_declaration(decl)?;
    let data_loc = c_type.starts_with("__data_loc") || c_type.starts_with("__rel_loc");
    let is_char = c_type
        .trim_start_matches("__data_loc ")
        .trim_start_matches("const ")
        == "char"
        || c_type.ends_with(" char");
    let kind = match (data_loc, array, is_char) {
        (true, _, true) => FieldKind::DataLocString,
        (true, _, false) => FieldKind::Other,
        (false, true, true) => FieldKind::CharArray,
        (false, true, false) => FieldKind::Other,
        (false, false, _) => FieldKind::Int { signed },
    };
    Some(Field {
        is_pointer: c_type.contains('*'),
        name,
        c_type,
        offset: offset?,
        size: size?,
        kind,
    })
}

/// Split `const char * filename` / `char prev_comm[16]` / `__data_loc char[] name`
/// into (type, name, is_array).
fn split_declaration(decl: &str) -> Option<(String, String, bool)> {
    let decl = decl.trim();
    let (decl, array) = match decl.find('[') {
        Some(i) if decl.ends_with(']') && !decl[..i].ends_with("char") => (&decl[..i], true),
        _ => (decl, false),
    };
    // `__data_loc char[] name`: the brackets belong to the type.
    let decl_no_brackets = decl.replace("[]", "");
    let split = decl_no_brackets.rfind([' ', '*'])?;
    let name = decl_no_brackets[split + 1..].trim().to_string();
    let c_type = decl_no_brackets[..split + 1].trim().to_string();
    let array = array || decl.contains("[]");
    Some((c_type, name, array))
}

/// Every `category:name` tracepoint matching the glob patterns (`*` and `?`).
pub fn matching(root: &Path, category: &str, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !has_wildcard(category) && !has_wildcard(name) {
        // A plain name: one stat instead of walking every event directory.
        if root
            .join("events")
            .join(category)
            .join(name)
            .join("format")
            .exists()
        {
            out.push((category.to_string(), name.to_string()));
        }
        return out;
    }
    let Ok(cats) = fs::read_dir(root.join("events")) else {
        return out;
    };
    let mut cat_names: Vec<String> = cats
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|c| glob_match(category, c))
        .collect();
    cat_names.sort();
    for cat in cat_names {
        let Ok(events) = fs::read_dir(root.join("events").join(&cat)) else {
            continue;
        };
        let mut names: Vec<String> = events
            .flatten()
            .filter(|e| e.path().join("format").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| glob_match(name, n))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| (cat.clone(), n)));
    }
    out
}

/// Read and parse one tracepoint's format.
pub fn read_format(root: &Path, category: &str, name: &str) -> std::io::Result<Format> {
    let text = fs::read_to_string(root.join("events").join(category).join(name).join("format"))?;
    Ok(parse_format(&text))
}

/// Shell-style glob with `*` and `?`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "name: sys_enter_read\nID: 842\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\
\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;\n\
\tfield:char * buf;\toffset:24;\tsize:8;\tsigned:0;\n\
\tfield:char prev_comm[16];\toffset:40;\tsize:16;\tsigned:0;\n\
\tfield:__data_loc char[] name;\toffset:20;\tsize:4;\tsigned:0;\n";

    #[test]
    fn parses_fields() {
        let f = parse_format(READ);
        let names: Vec<_> = f.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["__syscall_nr", "fd", "buf", "prev_comm", "name"]);
        let fd = f.field("fd").unwrap();
        assert_eq!(
            (fd.offset, fd.size, &fd.kind),
            (16, 8, &FieldKind::Int { signed: false })
        );
        assert!(f.field("buf").unwrap().is_pointer);
        assert_eq!(f.field("prev_comm").unwrap().kind, FieldKind::CharArray);
        assert_eq!(f.field("name").unwrap().kind, FieldKind::DataLocString);
        assert_eq!(
            f.field("__syscall_nr").unwrap().kind,
            FieldKind::Int { signed: true }
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("sys_enter_*", "sys_enter_read"));
        assert!(glob_match("*read", "sys_enter_read"));
        assert!(glob_match("sys_?nter_read", "sys_enter_read"));
        assert!(!glob_match("sys_exit_*", "sys_enter_read"));
    }
}
