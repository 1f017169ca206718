//! Export renderers: for every shell and dotenv, a value is either refused or rendered so that
//! reading the line back the way that shell does gives exactly the value.
#![no_main]

use berth::ci::shell::{Format, Line, github_heredoc, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data).into_owned();
    let lines = [Line::Set {
        name: "BERTH_X".into(),
        value: value.clone(),
    }];
    for format in [
        Format::Posix,
        Format::Fish,
        Format::PowerShell,
        Format::Cmd,
        Format::Dotenv,
    ] {
        let Ok(out) = render(format, &lines) else {
            assert!(
                matches!(format, Format::Cmd | Format::Dotenv),
                "{format:?} refused {value:?}"
            );
            continue;
        };
        let body = out.strip_suffix('\n').expect("a line ends with a newline");
        let read = match format {
            Format::Posix => posix(body.strip_prefix("export BERTH_X=").expect("export")),
            Format::Fish => fish(body.strip_prefix("set -gx BERTH_X ").expect("set -gx")),
            Format::PowerShell => powershell(body.strip_prefix("$Env:BERTH_X = ").expect("$Env")),
            Format::Cmd => {
                let inner = body
                    .strip_prefix("set \"BERTH_X=")
                    .and_then(|b| b.strip_suffix('"'))
                    .expect("set \"K=V\"");
                assert!(!inner.contains(['"', '\n', '\r']));
                inner.replace("%%", "%")
            }
            Format::Dotenv => {
                assert!(!body.contains(['\n', '\r']), "one line: {body:?}");
                body.strip_prefix("BERTH_X=").expect("K=V").to_string()
            }
        };
        assert_eq!(read, value, "{format:?}: {out:?}");
    }
    if let Ok(out) = github_heredoc("BERTH_X", &value) {
        let (head, rest) = out.split_once('\n').expect("a heredoc header line");
        let delimiter = head.strip_prefix("BERTH_X<<").expect("NAME<<DELIM");
        let body = rest
            .strip_suffix(&format!("\n{delimiter}\n"))
            .expect("the heredoc ends with its delimiter");
        assert_eq!(body, value);
        assert!(!value.contains(delimiter));
    }
});

/// Reads one POSIX word made of single-quoted runs and `\'`.
fn posix(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    out.push(q);
                }
            }
            '\\' => out.push(chars.next().expect("an escaped character")),
            other => panic!("unquoted {other:?} in {word:?}"),
        }
    }
    out
}

/// Reads one fish single-quoted word: only `\\` and `\'` are escapes.
fn fish(word: &str) -> String {
    let inner = word
        .strip_prefix('\'')
        .and_then(|w| w.strip_suffix('\''))
        .expect("single quotes");
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | '\'')) => out.push(e),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '\'' => panic!("a bare quote inside {word:?}"),
            other => out.push(other),
        }
    }
    out
}

/// Reads one PowerShell verbatim string: every single-quote character is doubled.
fn powershell(word: &str) -> String {
    let is_quote = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
    let inner = word
        .strip_prefix('\'')
        .and_then(|w| w.strip_suffix('\''))
        .expect("single quotes");
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if is_quote(c) {
            let next = chars.next().expect("a doubled quote");
            assert!(is_quote(next), "a lone quote inside {word:?}");
        }
        out.push(c);
    }
    out
}
