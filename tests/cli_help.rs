//! The command line's conventions: every command's `--help` ends with an example that parses
//! and names shipped files; completions for the common shells and the manual page come from
//! the same definitions.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stepscale(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the stepscale binary runs")
}

/// Words of a shell command line: whitespace-separated, single quotes kept together.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The subcommands `stepscale --help` lists.
fn commands() -> Vec<String> {
    let help = String::from_utf8(stepscale(&["--help"]).stdout).unwrap();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_command_shows_an_example_that_parses_on_shipped_files() {
    let commands = commands();
    assert!(commands.len() >= 10, "{commands:?}");
    for command in &commands {
        let out = stepscale(&[command, "--help"]);
        let help = String::from_utf8(out.stdout).unwrap();
        let example = help
            .lines()
            .find_map(|l| l.trim().strip_prefix("$ "))
            .unwrap_or_else(|| panic!("`{command} --help` has no example:\n{help}"));
        // The stepscale part of the line: after a pipe, before a redirection or `&&`.
        let part = example.rsplit("| ").next().unwrap_or(example);
        let part = part.split(" > ").next().unwrap_or(part);
        let part = part.split(" && ").next().unwrap_or(part);
        let mut args = words(part);
        assert_eq!(
            args.first().map(String::as_str),
            Some("stepscale"),
            "{example}"
        );
        args.remove(0);
        assert_eq!(args.first(), Some(command), "{command}: {example}");
        for arg in &args {
            if std::path::Path::new(arg)
                .extension()
                .is_some_and(|e| e == "toml")
            {
                assert!(
                    root().join(arg).is_file(),
                    "{command}: {arg} is not shipped"
                );
            }
        }
        // clap checks every argument before it answers --help: an unknown flag or a bad
        // value fails here.
        let mut parse: Vec<&str> = args.iter().map(String::as_str).collect();
        parse.push("--help");
        let out = stepscale(&parse);
        assert!(
            out.status.success(),
            "{command}: `{example}` does not parse: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn completions_and_the_manual_page_cover_every_command() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish"] {
        let out = stepscale(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in &commands {
            assert!(script.contains(command.as_str()), "{shell} lacks {command}");
        }
    }
    let out = stepscale(&["completions", "tcsh"]);
    assert!(!out.status.success(), "an unknown shell is refused");
    let page = String::from_utf8(stepscale(&["man"]).stdout).unwrap();
    assert!(
        page.contains(".TH stepscale 1"),
        "not a section-1 page: {page}"
    );
    for command in &commands {
        assert!(
            page.contains(command.as_str()),
            "the manual lacks {command}"
        );
    }
}
