//! Rendering exported variables for each shell, the dotenv formats and GitHub's files.
//!
//! Every value is quoted so that it arrives unchanged, whatever it holds (`$`, quotes,
//! backticks, spaces, newlines, unicode) — werf writes `export K="V"` and a `$` in a value
//! runs. Where a format cannot carry a value at all, rendering fails with the reason instead
//! of writing something that means something else (and a NUL, which no environment variable
//! can hold, is refused in every format):
//!
//! - bash, zsh, POSIX sh (dash): `export K='V'`, each `'` written as `'\''`. Single quotes
//!   take every other byte literally in all three, newlines included.
//! - fish: `set -gx K 'V'`; inside fish single quotes only `\\` and `\'` are escapes.
//! - PowerShell: `$Env:K = 'V'`; a single quote is doubled. PowerShell also treats the
//!   typographic quotes U+2018..U+201B as single quotes, so those are doubled too.
//! - cmd (a `.cmd` batch file to `call`): `set "K=V"` with `%` doubled. A newline cannot be
//!   written in a `set` line and a `"` would end the quoting and let `&`, `|`, `<`, `>` run,
//!   so both are refused. `!` is written as is: it is literal unless the caller turned on
//!   delayed expansion, which cmd leaves off by default.
//! - dotenv (GitLab `reports: dotenv`, Jenkins `readProperties`): `K=V` unquoted, no comments
//!   or blank lines (GitLab rejects lines that are not `K=V`). GitLab strips surrounding
//!   whitespace and quotes and expands `$`; Java `Properties` treats `\` as an escape (`=`
//!   and `:` after the key are literal): so values with a newline, a backslash, a `$`,
//!   surrounding whitespace, or a leading quote are refused. Free text (labels) is
//!   percent-encoded by the caller before it gets here.

use super::Error;

/// Output syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// bash and zsh (and any POSIX sh: dash, busybox).
    Posix,
    /// fish.
    Fish,
    /// PowerShell.
    PowerShell,
    /// Windows cmd batch file.
    Cmd,
    /// dotenv / Java properties.
    Dotenv,
}

/// One line of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A comment for the reader (one line; newlines are replaced).
    Comment(String),
    /// A variable to export.
    Set {
        /// Name.
        name: String,
        /// Value, exported exactly.
        value: String,
    },
}

/// Renders the lines in one format.
pub fn render(format: Format, lines: &[Line]) -> Result<String, Error> {
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Comment(text) => {
                let text = text.replace(['\n', '\r'], " ");
                match format {
                    Format::Posix | Format::Fish | Format::PowerShell => {
                        out.push_str(&format!("# {text}\n"))
                    }
                    // `rem` rather than `::`, which breaks inside parenthesised blocks; `%`
                    // would still expand in a rem line, so it is doubled.
                    Format::Cmd => out.push_str(&format!("rem {}\n", text.replace('%', "%%"))),
                    Format::Dotenv => {}
                }
            }
            Line::Set { name, value } => {
                check_name(name)?;
                out.push_str(&set_line(format, name, value)?);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Unrepresentable {
            name: name.to_string(),
            why: "not a valid environment variable name".into(),
        })
    }
}

fn set_line(format: Format, name: &str, value: &str) -> Result<String, Error> {
    let refuse = |why: &str| Error::Unrepresentable {
        name: name.to_string(),
        why: why.to_string(),
    };
    if value.contains('\0') {
        return Err(refuse(
            "the value has a NUL character, which no environment variable can hold",
        ));
    }
    Ok(match format {
        Format::Posix => format!("export {name}={}", posix_quote(value)),
        Format::Fish => format!("set -gx {name} {}", fish_quote(value)),
        Format::PowerShell => format!("$Env:{name} = {}", powershell_quote(value)),
        Format::Cmd => {
            if value.contains(['\n', '\r']) {
                return Err(refuse(
                    "the value has a line break, which a cmd `set` line cannot hold; use \
                     --shell powershell",
                ));
            }
            if value.contains('"') {
                return Err(refuse(
                    "the value has a double quote, which cmd cannot escape inside `set \"K=V\"`; \
                     use --shell powershell",
                ));
            }
            format!("set \"{name}={}\"", value.replace('%', "%%"))
        }
        Format::Dotenv => {
            if value.contains(['\n', '\r']) {
                return Err(refuse(
                    "the value has a line break, which dotenv files (GitLab reports, Jenkins \
                     readProperties) cannot hold; use the shell script output instead",
                ));
            }
            if value.contains('\\') {
                return Err(refuse(
                    "the value has a backslash, which Jenkins readProperties reads as an \
                     escape; use the shell script output instead",
                ));
            }
            if value.trim() != value || value.starts_with(['"', '\'']) {
                return Err(refuse(
                    "the value starts or ends with whitespace or starts with a quote, which \
                     GitLab's dotenv report strips; use the shell script output instead",
                ));
            }
            if value.contains('$') {
                return Err(refuse(
                    "the value has a `$`, which GitLab expands in dotenv variables; use the \
                     shell script output instead",
                ));
            }
            format!("{name}={value}")
        }
    })
}

/// POSIX single quoting (bash, zsh, dash).
pub fn posix_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// fish single quoting.
pub fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// PowerShell verbatim string.
pub fn powershell_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// One GitHub Actions file entry (`$GITHUB_ENV`, `$GITHUB_OUTPUT`) as a heredoc,
/// `NAME<<DELIM\nvalue\nDELIM\n`, with a random delimiter that does not occur in the value
/// (regenerated until it does not, as GitHub's own toolkit does).
pub fn github_heredoc(name: &str, value: &str) -> Result<String, Error> {
    if name.is_empty() || name.contains(['\n', '\r', '<', '=']) {
        return Err(Error::Unrepresentable {
            name: name.to_string(),
            why: "not a valid GitHub Actions variable or output name".into(),
        });
    }
    let delimiter = loop {
        let candidate = format!(
            "ghadelimiter_{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        if !value.contains(&candidate) {
            break candidate;
        }
    };
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, value: &str) -> Line {
        Line::Set {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn quoting_per_shell() {
        assert_eq!(posix_quote("it's $x"), r"'it'\''s $x'");
        assert_eq!(fish_quote(r"a\'b"), r"'a\\\'b'");
        assert_eq!(powershell_quote("it’s 'x'"), "'it’’s ''x'''");
        assert_eq!(
            render(Format::Cmd, &[set("A", "100% !x")]).unwrap(),
            "set \"A=100%% !x\"\n"
        );
    }

    #[test]
    fn refusals_name_the_variable() {
        for (format, value) in [
            (Format::Cmd, "a\nb"),
            (Format::Cmd, "a\"&calc"),
            (Format::Dotenv, "a\nb"),
            (Format::Dotenv, r"C:\x"),
            (Format::Dotenv, " padded"),
            (Format::Dotenv, "'quoted'"),
            (Format::Dotenv, "a$b"),
            (Format::Posix, "nul\0inside"),
            (Format::Fish, "nul\0inside"),
        ] {
            let err = render(format, &[set("BERTH_X", value)])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("BERTH_X: "), "{err}");
        }
        assert!(render(Format::Posix, &[set("1BAD", "x")]).is_err());
    }

    #[test]
    fn dotenv_has_no_comments() {
        let out = render(
            Format::Dotenv,
            &[Line::Comment("hello".into()), set("A", "b c")],
        )
        .unwrap();
        assert_eq!(out, "A=b c\n");
    }

    #[test]
    fn heredoc_delimiter_never_occurs_in_the_value() {
        let out = github_heredoc("X", "line1\nghadelimiter_\nEOF").unwrap();
        let (head, rest) = out.split_once('\n').unwrap();
        let delim = head.strip_prefix("X<<").unwrap();
        assert!(delim.starts_with("ghadelimiter_") && delim.len() > 20);
        assert_eq!(rest, format!("line1\nghadelimiter_\nEOF\n{delim}\n"));
    }
}
