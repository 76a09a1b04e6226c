//! Reading a `stepscale run --record` file: one [`LiveTick`] a row, every cell checked, with
//! the shadow policies' columns by name.

use std::path::Path;

use stepscale_engine::Action;

use super::{LiveTick, ParityError};
use crate::timefmt::{self, TimeFormat};

/// Reads a `stepscale run --record` file.
pub fn read_record(path: &Path) -> Result<Vec<LiveTick>, ParityError> {
    read_with_shadows(path).map(|(ticks, _)| ticks)
}

/// Reads a `stepscale run --record` file, with the names of its shadow columns in order (the
/// empty name for a lone `shadow_desired` column): each tick's
/// [`LiveTick::shadow_desired`] holds their cells in that order.
pub fn read_with_shadows(path: &Path) -> Result<(Vec<LiveTick>, Vec<String>), ParityError> {
    let text = std::fs::read_to_string(path).map_err(|e| ParityError::RecordFile {
        path: path.to_path_buf(),
        detail: format!("cannot read: {e}"),
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| ParityError::RecordFile {
                path: path.to_path_buf(),
                detail: format!(
                    "no column `{name}`; the header has: {}; give the file `stepscale run --record` wrote",
                    header.join(", ")
                ),
            })
    };
    let (c_time, c_arr, c_vis, c_inf, c_des, c_act) = (
        col("time")?,
        col("arrivals")?,
        col("visible")?,
        col("in_flight")?,
        col("desired")?,
        col("action")?,
    );
    // Records from before these columns were written have none.
    let c_est = header.iter().position(|h| *h == "arrivals_estimated");
    let c_run = header.iter().position(|h| *h == "running");
    let c_pend = header.iter().position(|h| *h == "pending");
    let c_read = header.iter().position(|h| *h == "read_ms");
    let shadows: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| match *h {
            "shadow_desired" => Some((i, String::new())),
            _ => h
                .strip_prefix("shadow_desired.")
                .map(|name| (i, name.to_string())),
        })
        .collect();
    let mut ticks = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        let bad = |column: &str, value: &str, rule: &str| ParityError::Record {
            path: path.to_path_buf(),
            line: line_no,
            column: column.into(),
            value: value.into(),
            rule: rule.into(),
        };
        let cell = |c: usize, name: &str| {
            cells
                .get(c)
                .copied()
                .ok_or_else(|| bad(name, "", "the row has fewer cells than the header"))
        };
        let time = cell(c_time, "time")?;
        let at_us =
            timefmt::parse(time, TimeFormat::DateTime).map_err(|rule| bad("time", time, &rule))?;
        if let Some(prev) = ticks.last().map(|t: &LiveTick| t.at_us) {
            if at_us <= prev {
                return Err(bad(
                    "time",
                    time,
                    "must be later than the previous row's (one recorded run, in order)",
                ));
            }
        }
        let count = |c: usize, name: &str| -> Result<Option<u64>, ParityError> {
            let v = cell(c, name)?;
            if v.is_empty() {
                return Ok(None);
            }
            v.parse().map(Some).map_err(|_| {
                bad(
                    name,
                    v,
                    "must be a whole number >= 0, or empty for a failed read",
                )
            })
        };
        let arrivals = {
            let v = cell(c_arr, "arrivals")?;
            if v.is_empty() {
                None
            } else {
                match v.parse::<f64>() {
                    Ok(a) if a.is_finite() && a >= 0.0 => Some(a),
                    _ => return Err(bad("arrivals", v, "must be a number >= 0, or empty")),
                }
            }
        };
        let desired_text = cell(c_des, "desired")?;
        let desired = desired_text
            .parse()
            .map_err(|_| bad("desired", desired_text, "must be a whole number >= 0"))?;
        let action_text = cell(c_act, "action")?;
        let action = match action_text {
            "scale_out" => Action::ScaleOut,
            "scale_in" => Action::ScaleIn,
            "hold" => Action::Hold,
            _ => {
                return Err(bad(
                    "action",
                    action_text,
                    "must be scale_out, scale_in or hold",
                ))
            }
        };
        let tasks = |c: Option<usize>, name: &str| -> Result<Option<u32>, ParityError> {
            let Some(c) = c else { return Ok(None) };
            let v = cell(c, name)?;
            v.parse()
                .map(Some)
                .map_err(|_| bad(name, v, "must be a whole number >= 0"))
        };
        let read_ms = match c_read.map(|c| cell(c, "read_ms")).transpose()? {
            None | Some("") => None,
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if ms <= 3_600_000 => Some(ms),
                _ => {
                    return Err(bad(
                        "read_ms",
                        v,
                        "must be a whole number of milliseconds from 0 to 3600000 (when the queue was read, after the row's time)",
                    ))
                }
            },
        };
        let mut shadow_desired = Vec::with_capacity(shadows.len());
        for (c, name) in &shadows {
            let column = if name.is_empty() {
                "shadow_desired".to_string()
            } else {
                format!("shadow_desired.{name}")
            };
            let v = cell(*c, &column)?;
            shadow_desired.push(if v.is_empty() {
                None
            } else {
                Some(v.parse().map_err(|_| {
                    bad(
                        &column,
                        v,
                        "must be a whole number >= 0, or empty when the shadow did not decide",
                    )
                })?)
            });
        }
        ticks.push(LiveTick {
            at_us,
            arrivals,
            arrivals_estimated: c_est.is_some_and(|c| cells.get(c) == Some(&"true")),
            visible: count(c_vis, "visible")?,
            in_flight: count(c_inf, "in_flight")?,
            desired,
            running: tasks(c_run, "running")?,
            pending: tasks(c_pend, "pending")?,
            action,
            read_ms,
            shadow_desired,
        });
    }
    if ticks.len() < 2 {
        return Err(ParityError::RecordFile {
            path: path.to_path_buf(),
            detail: format!(
                "{} data rows; a comparison needs at least 2 decisions",
                ticks.len()
            ),
        });
    }
    Ok((ticks, shadows.into_iter().map(|(_, n)| n).collect()))
}
