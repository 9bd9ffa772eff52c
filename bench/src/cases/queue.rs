//! Case 5: a large merge queue, 30% prunable, against `jq` applying the same
//! rule to the same file.
//!
//! `demo::generate` writes the queue: statuses cycle through five (three
//! terminal) and ages alternate old/recent every five entries, so 3/5 × 1/2 =
//! 30% of the entries are terminal and old. Each timed run starts from a
//! fresh copy of that file.

use std::cell::Cell;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use v0_prune_shared::demo;
use v0_prune_shared::prune::{ignore_events, queue};

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::{Contender, fresh_copy, race, remove_if_present, run_tool, tool_available};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// Case 5.
pub struct Queue;

/// The contract's queue rule in jq: drop terminal entries whose `updated_at`
/// (else `enqueued_at`) sorts before the cutoff; neither counts as old.
const JQ_RULE: &str = r#".entries |= map(select(((.status == "completed" or .status == "failed" or .status == "conflict") and ((.updated_at // .enqueued_at) as $t | $t == null or $t < $c)) | not))"#;

impl Case for Queue {
    fn id(&self) -> &'static str {
        "queue"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "queue.json of {} entries, 30% prunable",
            sizes.queue_entries
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let dir = ctx.case_dir(self.id())?;
        let spec = demo::DemoSpec {
            queue_entries: ctx.sizes.queue_entries,
            ..data::empty_spec(47)?
        };
        let project =
            demo::generate(&dir.join("project"), &spec).context("generating the queue")?;
        let build = project.build_dir;
        let queue_file = build.queue_file();
        let pristine = dir.join("queue.pristine.json");
        std::fs::copy(&queue_file, &pristine)?;
        let jq_out = dir.join("jq.out.json");
        notes.push(format!(
            "input: {} bytes, {} entries",
            data::size_of(&pristine)?,
            spec.queue_entries
        ));

        let removed = Cell::new(0u64);
        let options = ctx.options();
        let cutoff = ctx.cutoff.to_string();
        let mut contenders = vec![Contender::new(
            "queue::prune",
            || fresh_copy(&pristine, &queue_file),
            || {
                let report = queue::prune(&build, &options, &mut ignore_events)?;
                ensure!(
                    !report.removed.is_empty() && report.skipped.is_empty(),
                    "expected entries removed and none skipped; got {} removed, skipped {:?}",
                    report.removed.len(),
                    report.skipped
                );
                removed.set(report.removed.len() as u64);
                Ok(())
            },
        )];
        let jq = tool_available("jq");
        if jq {
            contenders.push(Contender::new(
                "jq",
                || remove_if_present(&jq_out),
                || {
                    run_tool(
                        Command::new("jq")
                            .arg("--arg")
                            .arg("c")
                            .arg(&cutoff)
                            .arg(JQ_RULE)
                            .arg(&pristine),
                        Some(&jq_out),
                    )
                },
            ));
        }
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);
        let removed = removed.get();
        notes.push(format!(
            "queue::prune removed {removed} of {} entries ({:.1}%)",
            spec.queue_entries,
            100.0 * removed as f64 / spec.queue_entries.max(1) as f64
        ));
        let mut samples = samples.into_iter();
        let ours = Measured::new("queue::prune", Unit::Ms, samples.next().unwrap_or_default());
        let row = if jq {
            let kept = jq_kept(&jq_out)?;
            let expected = spec.queue_entries as u64 - removed;
            notes.push(format!(
                "jq kept {kept} entries; queue::prune kept {expected}{}",
                if kept == expected {
                    " (same)"
                } else {
                    " (DIFFERENT: the baseline is not doing the same work)"
                }
            ));
            let base = Measured::new("jq", Unit::Ms, samples.next().unwrap_or_default());
            Row::compare(ours, base, Target::FasterBy(5.0))
        } else {
            Row::skipped(
                ours,
                "jq",
                Target::FasterBy(5.0),
                "jq is not installed".into(),
            )
        };
        Ok(Outcome::Measured { rows: vec![row] })
    }
}

/// Entries in jq's output, to check that it applied the same rule.
fn jq_kept(path: &std::path::Path) -> Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    Ok(value["entries"].as_array().map_or(0, |a| a.len() as u64))
}
