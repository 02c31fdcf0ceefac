//! `report.md` next to the exported model: what a run read, how it split the data, what each
//! model scored on the test split, and what ships.

use std::path::Path;

use crate::cli::Run;
use crate::pipeline::prepare::Prepared;

/// Writes `dir/report.md`. `files`: the exported files and their sizes (None for `eval`);
/// `steps`: each step's wall seconds.
#[allow(clippy::too_many_arguments)]
pub fn write(
    dir: &Path,
    p: &Prepared,
    run: &Run,
    evaluation: &serde_json::Value,
    ship_distilled: bool,
    files: Option<&Vec<(String, u64)>>,
    steps: &[(String, f64)],
    wall_seconds: f64,
) -> Result<(), String> {
    let command = command_line();
    let inputs: String = p.origin.inputs.as_array().into_iter().flatten().map(|i| format!("- `{i}`\n")).collect();
    let settings = serde_json::to_string(&run.settings).unwrap();
    let shipped = if ship_distilled { "student-distilled" } else { "student-alone" };
    let model = match files {
        Some(files) => model_section(shipped, files, dir),
        None => format!("`eval` exports nothing; `all` would ship the {shipped} in 8-bit weights.\n"),
    };
    let text = format!(
        "# localrank training report\n\n\
         Run finished {} UTC in {wall_seconds:.0} s: `{command}`\n\n{}\n\
         ## Data\n\n{}\n\n{inputs}\n```text\n{}```\n\n\
         ## Split\n\n{}.\n\n{} training windows, {} validation cases (every 4th of the validation period).\n\n\
         ## Settings\n\n`{settings}`\n\n\
         ## Test metrics\n\n{}\n\
         ## Blend with the server order\n\n{}\n\
         ## Adapting to returning shoppers\n\n{}\n\
         ## Model\n\n{model}",
        utc_date_time(std::time::SystemTime::now()),
        steps_table(steps),
        p.origin.description,
        p.origin.summary,
        evaluation["split"].as_str().unwrap_or(""),
        p.train_windows.len(),
        p.valid.len(),
        metrics_table(evaluation),
        blend_advice(&evaluation["personalization"]),
        adaptation_advice(&evaluation["adaptation"]),
    );
    let path = dir.join("report.md");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The text of the report's last section, "## Model": the files that ship from `dir` and, for
/// a compact model (`dir/compact-check.json`), how it scores against the full one.
fn model_section(shipped: &str, files: &[(String, u64)], dir: &Path) -> String {
    let total: u64 = files.iter().map(|f| f.1).sum();
    let rows: String = files.iter().map(|(name, bytes)| format!("| {name} | {bytes} |\n")).collect();
    let check: Option<serde_json::Value> = std::fs::read(dir.join("compact-check.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let compact = check.map_or(String::new(), |c| {
        let slice = |name: &str, key: &str| {
            let s = &c[key];
            let ci = &s["difference"]["ndcg@10_ci"];
            match (s["relative"].as_f64(), ci[0].as_f64(), ci[1].as_f64()) {
                (Some(r), Some(lo), Some(hi)) => format!("- {name} ({} requests): NDCG@10 {:+.2}% against the full model (difference {lo:+.4} to {hi:+.4}, 95%)\n", s["requests"], 100.0 * r),
                _ => format!("- {name}: not measured\n"),
            }
        };
        format!(
            "\nStored compactly (`compact`; bytes per coded token row: {}; the full model is in `full/`), measured on the same requests (compact-check.json):\n\n{}{}{}",
            c["compact"]["parts"],
            slice("candidate lists", "lists"),
            slice("new products", "new_products"),
            slice("held-out products (exact rows chosen without them)", "held_out_products"),
        )
    });
    format!("The shipped model is the {shipped} in 8-bit weights (chosen on validation NDCG@10).\n\n| file | bytes |\n|---|---:|\n{rows}| total | {total} |\n{compact}")
}

/// Rewrites the "## Model" section of `dir/report.md` (if there is one) for the model now in
/// `dir`: `compact` run after `all`.
pub fn rewrite_model_section(dir: &Path, shipped: &str, files: &[(String, u64)]) -> Result<(), String> {
    let path = dir.join("report.md");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let Some(at) = text.find("\n## Model\n\n") else { return Ok(()) };
    let text = format!("{}\n## Model\n\n{}", &text[..at], model_section(shipped, files, dir));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn steps_table(steps: &[(String, f64)]) -> String {
    let rows: String = steps.iter().map(|(name, secs)| format!("| {name} | {secs:.0} |\n")).collect();
    format!("| step | wall s |\n|---|---:|\n{rows}")
}

/// A validation sweep's `Tried` rows as "setting: NDCG@10, ...".
fn tried_settings(tried: &serde_json::Value) -> String {
    let each: Vec<String> = tried
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| format!("{}: {:.4}", t["setting"], t["ndcg@10"].as_f64().unwrap_or(0.0)))
        .collect();
    each.join(", ")
}

/// What the validation sweep of the blend chose, and whether the model should be deployed.
fn blend_advice(choice: &serde_json::Value) -> String {
    let tried = tried_settings(&choice["blends"]);
    let chosen = choice["personalization"].as_f64().unwrap_or(0.0);
    let verdict = if chosen == 0.0 {
        "**Do not deploy this model for this store**: on the validation period no weight above 0 ranked the \
         server's candidates better than the server's own order, so reranking would cost clicks. More \
         events per user, a catalogue with descriptive titles, or page context in the logs may change that; \
         `manifest.json` says `personalization: 0`, which keeps the server order if it is deployed anyway."
            .to_string()
    } else {
        format!("The browser blends the model with the server order at `personalization` {chosen} by default (`manifest.json`).")
    };
    format!("Validation list NDCG@10 by `personalization` (0 = the server order): {}.\n\n{verdict}\n", tried)
}

/// The on-device adaptation's validation choice (`adapt::choose`), in the store's words.
fn adaptation_advice(choice: &serde_json::Value) -> String {
    let tried = tried_settings(&choice["validation"]);
    let gain = &choice["validation_gain"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let verdict = match choice["weight"].as_f64() {
        Some(w) if w > 0.0 => format!(
            "With `remember` on, the browser adds per-category biases from the shopper's earlier visits at weight {w} (`manifest.json` `adaptation`)."
        ),
        _ => "Off (`adaptation` 0): no weight gained clearly over none on validation.".to_string(),
    };
    format!(
        "Validation list NDCG@10 by `adaptation` weight, on what a device with `remember` holds: {}; the best over 0: {:+.4} ({:+.4} to {:+.4}).\n\n{verdict}\n",
        tried, f(&gain["ndcg@10"]), f(&gain["ndcg@10_ci"][0]), f(&gain["ndcg@10_ci"][1])
    )
}

/// This process's command line, as the manifest and the report record it.
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The main columns of `evaluation.json`'s rows as a markdown table.
fn metrics_table(evaluation: &serde_json::Value) -> String {
    let keys = ["ndcg@10", "hr@10", "mrr@10", "full_ndcg@10", "loo_ndcg@10", "coverage@10", "tail_share@10"];
    let mut s = format!("| model | {} |\n|---|{}\n", keys.join(" | "), "---:|".repeat(keys.len()));
    for row in evaluation["rows"].as_array().into_iter().flatten() {
        let cells: Vec<String> = keys.iter().map(|k| row[*k].as_f64().map_or("n/a".into(), |v| format!("{v:.4}"))).collect();
        s += &format!("| {} | {} |\n", row["model"].as_str().unwrap_or("?"), cells.join(" | "));
    }
    s
}

/// "YYYY-MM-DD HH:MM" in UTC (civil-from-days, proleptic Gregorian calendar).
pub fn utc_date_time(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rem / 3_600, rem % 3_600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_section_is_replaced_up_to_the_next_heading_or_appended() {
        let path = std::env::temp_dir().join(format!("section-{}.md", std::process::id()));
        std::fs::write(&path, "# T\n\n## A\nold a\n\n## B\nb\n").unwrap();
        replace_section(&path, "## A", "## A\nnew a\n").unwrap();
        replace_section(&path, "## C", "## C\nc\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# T\n\n## A\nnew a\n## B\nb\n\n## C\nc\n");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_date_time(UNIX_EPOCH), "1970-01-01 00:00");
        // 2024-02-29 12:34 UTC = 1709210040.
        assert_eq!(utc_date_time(UNIX_EPOCH + Duration::from_secs(1_709_210_040)), "2024-02-29 12:34");
    }

    #[test]
    fn a_model_that_never_beats_the_server_order_is_not_to_be_deployed() {
        let blends = serde_json::json!([{"setting": 0.0, "ndcg@10": 0.05}, {"setting": 0.5, "ndcg@10": 0.04}]);
        let zero = blend_advice(&serde_json::json!({"personalization": 0.0, "blends": blends}));
        assert!(zero.contains("Do not deploy") && zero.contains("0: 0.0500"), "{zero}");
        let half = blend_advice(&serde_json::json!({"personalization": 0.5, "blends": blends}));
        assert!(!half.contains("Do not deploy") && half.contains("`personalization` 0.5"), "{half}");
    }

    #[test]
    fn the_adaptation_is_reported_on_only_with_a_weight() {
        let tried = serde_json::json!([{"setting": 0.0, "ndcg@10": 0.05}, {"setting": 16.0, "ndcg@10": 0.06}]);
        let gain = serde_json::json!({"ndcg@10": 0.01, "ndcg@10_ci": [0.005, 0.015]});
        let on = adaptation_advice(&serde_json::json!({"weight": 16.0, "validation": tried, "validation_gain": gain}));
        assert!(on.contains("at weight 16") && on.contains("16.0: 0.0600") && on.contains("+0.0100 (+0.0050 to +0.0150)"), "{on}");
        let off = adaptation_advice(&serde_json::json!({"weight": 0.0, "validation": tried, "validation_gain": gain}));
        assert!(off.starts_with("Validation") && off.contains("Off (`adaptation` 0)"), "{off}");
    }
}

/// Replaces the section of the markdown file at `path` that starts with `heading` (up to the
/// next `## ` heading or the end) with `section`, or appends it; a missing file is created. The
/// commands that add one block to evaluation.json (`context`, `returning`) keep EVALUATION.md's
/// other sections this way.
pub fn replace_section(path: &Path, heading: &str, section: &str) -> Result<(), String> {
    let md = std::fs::read_to_string(path).unwrap_or_default();
    let md = match md.find(heading) {
        Some(i) => {
            let end = md[i + heading.len()..].find("\n## ").map_or(md.len(), |j| i + heading.len() + j + 1);
            format!("{}{section}{}", &md[..i], &md[end..])
        }
        None => format!("{md}\n{section}"),
    };
    std::fs::write(path, md).map_err(|e| format!("{}: {e}", path.display()))
}

/// Sets block `key` of OUT/evaluation.json (created if missing), keeping the other blocks: for
/// the commands that measure one study (`context`, `returning`).
pub fn set_evaluation_block(out: &Path, key: &str, block: serde_json::Value) -> Result<(), String> {
    let path = out.join("evaluation.json");
    let mut json: serde_json::Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    json[key] = block;
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).map_err(|e| format!("{}: {e}", path.display()))
}
