//! `cargo xtask tidy`: house rules that rustc and clippy do not check.
//!
//! - every Rust file opens with a `//!` header saying what it holds;
//! - every `unsafe` block or impl has a `// SAFETY:` comment just above it
//!   (clippy checks blocks in code it compiles; this also covers code behind
//!   `cfg`s that this machine does not build);
//! - no `dbg!`, `todo!` or `unimplemented!` anywhere;
//! - library code (a crate's `src/`, except the xtask and the test kit) does
//!   not print: no `println!`, `print!`, `eprintln!` or `eprint!`;
//! - every published crate has a README.md and at least one example.

use std::path::{Path, PathBuf};

use crate::cargo::root;

/// Runs every rule over the workspace.
///
/// # Errors
///
/// Every violation, one per line, naming the file and line.
pub(crate) fn run() -> Result<(), String> {
    println!("\n==> tidy");
    let root = root();
    let mut problems = Vec::new();
    for file in rust_files(&root) {
        let text =
            std::fs::read_to_string(&file).map_err(|err| format!("{}: {err}", file.display()))?;
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        check_file(&shown, &text, is_library(&root, &file), &mut problems);
    }
    for dir in crate_dirs(&root) {
        let shown = dir
            .strip_prefix(&root)
            .unwrap_or(&dir)
            .display()
            .to_string();
        let shown = if shown.is_empty() {
            ".".to_owned()
        } else {
            shown
        };
        if !dir.join("README.md").is_file() {
            problems.push(format!("{shown}: no README.md"));
        }
        let has_example = std::fs::read_dir(dir.join("examples")).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "rs")))
        });
        if !has_example {
            problems.push(format!("{shown}: no runnable example in examples/"));
        }
    }
    if problems.is_empty() {
        println!("==> tidy: ok");
        Ok(())
    } else {
        Err(format!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// Checks one file's text; `library` forbids printing.
fn check_file(shown: &str, text: &str, library: bool, problems: &mut Vec<String>) {
    if !text.trim_start().starts_with("//!") {
        problems.push(format!("{shown}: does not open with a `//!` header"));
    }
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let code = without_strings(line.trim_start());
        let code = code.as_str();
        if code.starts_with("//") {
            continue;
        }
        let at = format!("{shown}:{}", index + 1);
        for banned in ["dbg!(", "todo!(", "unimplemented!("] {
            if code.contains(banned) {
                problems.push(format!("{at}: `{banned}` left in"));
            }
        }
        if library
            && ["println!(", "print!(", "eprintln!(", "eprint!("]
                .iter()
                .any(|p| code.contains(p))
        {
            problems.push(format!(
                "{at}: library code prints; return the information instead"
            ));
        }
        if opens_unsafe(code) && !has_safety_comment(&lines, index) {
            problems.push(format!(
                "{at}: `unsafe` without a `// SAFETY:` comment above it"
            ));
        }
    }
}

/// The line with the contents of its string literals blanked, so that code
/// that talks about `unsafe {` or `dbg!(` in a string is not taken for them.
fn without_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut in_string, mut escaped) = (false, false);
    // A quote in a char literal opens no string.
    for c in line.replace("'\"'", "'_'").chars() {
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => {
                    in_string = false;
                    out.push(c);
                }
                _ => escaped = false,
            }
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// True for a line that opens an unsafe block or an unsafe impl.
fn opens_unsafe(code: &str) -> bool {
    code.contains("unsafe {") || code.starts_with("unsafe impl")
}

/// A `// SAFETY:` comment on the line, or in the comment lines (and
/// attribute or statement-opening lines) just above it.
fn has_safety_comment(lines: &[&str], index: usize) -> bool {
    if lines[index].contains("// SAFETY:") {
        return true;
    }
    for line in lines[..index].iter().rev().take(12) {
        let line = line.trim_start();
        if line.starts_with("// SAFETY:") {
            return true;
        }
        let continues = line.starts_with("//") || line.starts_with("#[") || !line.ends_with(';');
        if !continues || line.starts_with('}') {
            return false;
        }
    }
    false
}

fn is_library(root: &Path, file: &Path) -> bool {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let mut parts = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let first = parts.next().unwrap_or_default();
    if first == "src" {
        return true; // the umbrella crate
    }
    first != "xtask" && first != "testkit" && parts.next().as_deref() == Some("src")
}

/// The directories of the published crates: the root and each folder with a
/// Cargo.toml, except the xtask and the test kit.
fn crate_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_owned()];
    if let Ok(entries) = std::fs::read_dir(root) {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|dir| dir.join("Cargo.toml").is_file())
            .filter(|dir| !dir.ends_with("xtask") && !dir.ends_with("testkit"))
            .collect();
        found.sort();
        dirs.extend(found);
    }
    dirs
}

/// Every `.rs` file in the workspace, outside `target/` and hidden folders.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|entry| entry.path()) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::check_file;

    fn problems(text: &str, library: bool) -> Vec<String> {
        let mut found = Vec::new();
        check_file("f.rs", text, library, &mut found);
        found
    }

    #[test]
    fn accepts_tidy_code() {
        let text = "//! Header.\n\nfn f() {\n    // SAFETY: fine.\n    unsafe { g() };\n}\n";
        assert_eq!(problems(text, true), Vec::<String>::new());
    }

    #[test]
    fn flags_missing_header_safety_and_debug_leftovers() {
        let text = "fn f() {\n    let x = 1;\n    unsafe { g() };\n    dbg!(x);\n}\n";
        let found = problems(text, false);
        assert!(found.iter().any(|p| p.contains("header")), "{found:?}");
        assert!(
            found
                .iter()
                .any(|p| p.contains("f.rs:3") && p.contains("SAFETY")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("f.rs:4") && p.contains("dbg!")),
            "{found:?}"
        );
    }

    #[test]
    fn flags_printing_in_library_code_only() {
        let text = "//! H.\nfn f() {\n    println!(\"hi\");\n}\n";
        assert_eq!(problems(text, true).len(), 1);
        assert!(problems(text, false).is_empty());
    }

    #[test]
    fn code_inside_strings_is_not_code() {
        let text = "//! H.\nfn f() {\n    let s = \"unsafe { dbg!(x) } \\\" println!(\";\n}\n";
        assert!(
            problems(text, true).is_empty(),
            "{:?}",
            problems(text, true)
        );
    }

    #[test]
    fn safety_comment_may_sit_above_a_multiline_statement() {
        let text =
            "//! H.\nfn f() {\n    // SAFETY: fine.\n    let x =\n        unsafe { g() };\n}\n";
        assert!(
            problems(text, true).is_empty(),
            "{:?}",
            problems(text, true)
        );
    }
}
