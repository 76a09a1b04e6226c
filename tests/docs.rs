//! The docs cannot drift from the code: every page's links resolve (files and headings), every
//! TOML example is a policy `stepscale config` accepts or a scenario the simulator parses, and
//! every `stepscale` command line in a shell example parses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every documentation page: the README and the Markdown files beside the code.
fn pages() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    let mut stack = vec![
        root().join("engine"),
        root().join("sim"),
        root().join("live"),
        root().join("src"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The fenced blocks of a page: (language, first line number, text).
fn blocks(text: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(block) => out.push(block),
                None => open = Some((rest.trim().to_string(), i + 1, String::new())),
            }
        } else if let Some((_, _, body)) = &mut open {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Every fenced block in one of `langs` across the pages: (page, first line number, text).
fn blocks_in(langs: &[&str]) -> Vec<(PathBuf, usize, String)> {
    let mut out = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (lang, line, body) in blocks(&text) {
            if langs.contains(&lang.as_str()) {
                out.push((page.clone(), line, body));
            }
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The lines of a page outside its fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut in_code = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            return false;
        }
        !in_code
    })
}

/// The anchors of a page's headings (outside code blocks), with GitHub's `-1` suffixes.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose(text) {
        if let Some(h) = line.strip_prefix('#') {
            let title = h.trim_start_matches('#').trim();
            let base = slug(title);
            let mut anchor = base.clone();
            let mut n = 0;
            while !out.insert(anchor.clone()) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
        }
    }
    out
}

/// The `(target)` of every inline Markdown link outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        // Drop code spans, where `](` may appear literally.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_link_reaches_a_file_and_a_heading() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {target}: no such file", rel(&page)));
                continue;
            }
            if !anchor.is_empty() {
                let Ok(target_text) = std::fs::read_to_string(&path) else {
                    broken.push(format!("{}: {target}: not a page", rel(&page)));
                    continue;
                };
                if !anchors(&target_text).contains(anchor) {
                    broken.push(format!("{}: {target}: no such heading", rel(&page)));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Whether a TOML example is a policy (`stepscale config` accepts it), a scenario, a tune
/// space, a services file (`[[services]]`) or a budget file (`stepscale run --budget`).
fn check_toml(text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .arg("config")
        .arg("--policy")
        .arg(&file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(());
    }
    let as_policy = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let as_scenario = match toml::from_str::<stepscale_sim::Scenario>(text) {
        Ok(_) => return Ok(()),
        Err(e) => e.message().to_string(),
    };
    if stepscale_sim::tune::space::Space::parse(text, &file).is_ok() {
        return Ok(());
    }
    let as_services = match stepscale_sim::multi::check_text(text) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    match toml::from_str::<stepscale_engine::budget::BudgetsFile>(text) {
        Ok(f) if !f.budget.is_empty() => Ok(()),
        Ok(_) => Err(format!(
            "not a policy ({as_policy}), a scenario ({as_scenario}), a tune space, a services file ({as_services}) nor a budget file (no [[budget]])"
        )),
        Err(e) => Err(format!(
            "not a policy ({as_policy}), a scenario ({as_scenario}), a tune space, a services file ({as_services}) nor a budget file ({})",
            e.message()
        )),
    }
}

#[test]
fn every_toml_example_is_a_policy_or_a_scenario() {
    let examples = blocks_in(&["toml"]);
    assert!(
        examples.len() >= 10,
        "only {} TOML examples found",
        examples.len()
    );
    let bad: Vec<String> = examples
        .iter()
        .filter_map(|(page, line, body)| {
            check_toml(body)
                .err()
                .map(|e| format!("{}:{line}: {e}", rel(page)))
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The `stepscale` arguments of a shell line: after `stepscale` or `cargo run ... --`, up to a
/// pipe, a redirection, `&&`, `;` or a comment.
fn stepscale_args(line: &str) -> Option<Vec<String>> {
    let line = line.split(" #").next().unwrap_or(line);
    let start = if let Some(i) = line.find("cargo run") {
        let after = &line[i..];
        i + after.find(" -- ")? + 4
    } else {
        // The command itself: at the start, after a pipe, `&&` or `$(`, or after variable
        // assignments (`MIN_TASKS=1 stepscale decide`); not an argument named `stepscale`.
        let i = line.find("stepscale ")?;
        let before = line[..i].trim_end();
        let tail = before
            .rsplit(['|', '(', ';'])
            .next()
            .unwrap_or(before)
            .trim_start_matches('&')
            .trim();
        if !tail.split_whitespace().all(|w| w.contains('=')) {
            return None;
        }
        i + "stepscale ".len()
    };
    let mut part = &line[start..];
    for stop in [" | ", " > ", " >> ", " && ", "; ", " 2>"] {
        if let Some(i) = part.find(stop) {
            part = &part[..i];
        }
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in part.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    (!words.is_empty()).then_some(words)
}

#[test]
fn every_stepscale_command_in_a_shell_example_parses() {
    let mut bad = Vec::new();
    let mut seen = 0;
    for (page, first, body) in blocks_in(&["sh", "bash", "console", "shell"]) {
        // Lines continued with a backslash are one command.
        let joined = body.replace("\\\n", " ");
        for (i, line) in joined.lines().enumerate() {
            let line = line.trim().trim_start_matches("$ ");
            if line.starts_with('#') {
                continue;
            }
            let Some(args) = stepscale_args(line) else {
                continue;
            };
            seen += 1;
            let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
                .args(&args)
                .arg("--help")
                .current_dir(root())
                .output()
                .unwrap();
            if !out.status.success() {
                bad.push(format!(
                    "{}:{} `{line}`: {}",
                    rel(&page),
                    first + i,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    assert!(seen >= 10, "only {seen} shell command lines found");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Each probe's page, beside its code, has the parts a scaler page needs, and its complete
/// example is the shipped live policy, verbatim (so the page cannot drift from the file).
#[test]
fn every_probe_page_has_its_parts_and_the_shipped_example() {
    for (dir, file) in [
        ("sqs", "sqs"),
        ("sns", "sns"),
        ("cloudwatch_metric", "cloudwatch"),
        ("prometheus", "prometheus"),
        ("kinesis", "kinesis"),
        ("kafka", "kafka"),
        ("amazon_mq", "amazon-mq"),
        ("rabbitmq", "rabbitmq"),
        ("redis", "redis"),
    ] {
        let page = root().join("live/src").join(dir).join("README.md");
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for part in [
            "## What it reads",
            "## Settings",
            "## Authentication",
            "## A complete example",
            "## How v0.2 differed",
        ] {
            assert!(text.contains(part), "{}: no `{part}`", rel(&page));
        }
        assert!(
            text.contains("## Permissions") || text.contains("## IAM"),
            "{}: no permissions",
            rel(&page)
        );
        let example = std::fs::read_to_string(
            root()
                .join("scenarios/policies/live")
                .join(format!("{file}.toml")),
        )
        .unwrap();
        assert!(
            text.contains(&format!(
                "```toml\n{}```",
                example.trim_end().to_string() + "\n"
            )),
            "{}: the example is not scenarios/policies/live/{file}.toml as shipped",
            rel(&page)
        );
    }
}

/// The top README stays a front door: short, with the two commands and links to the pages.
#[test]
fn the_top_readme_is_a_front_door() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= 400,
        "README.md has {lines} lines; move detail to the pages beside the code"
    );
    for page in ["engine/README.md", "sim/README.md", "live/README.md"] {
        assert!(
            text.contains(&format!("]({page})")),
            "README.md does not link {page}"
        );
    }
}
