//! The scheduler's pure core: when each scheduled skill is next due, which
//! are due now, and which must be skipped because their previous run is
//! still going. No clock and no I/O here, so every rule is tested by
//! passing times in.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use sc_core::manifest::Schedule;

/// When a skill runs.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Every so often.
    Interval(Duration),
    /// On a 5-field cron expression in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// Its zone (UTC unless the manifest says otherwise).
        zone: chrono_tz::Tz,
        /// The expression as written.
        text: String,
    },
}

impl PartialEq for Cadence {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Interval(a), Self::Interval(b)) => a == b,
            (
                Self::Cron {
                    text: a, zone: za, ..
                },
                Self::Cron {
                    text: b, zone: zb, ..
                },
            ) => a == b && za == zb,
            _ => false,
        }
    }
}

impl Cadence {
    /// The cadence of a manifest's schedule.
    pub fn from_schedule(schedule: &Schedule) -> Result<Self, String> {
        if let Some(seconds) = schedule.interval_seconds {
            let seconds = i64::try_from(seconds).map_err(|_| "interval is too long".to_owned())?;
            return Ok(Self::Interval(Duration::seconds(seconds.max(1))));
        }
        let text = schedule.cron.clone().ok_or("no interval or cron")?;
        let cron = croner::parser::CronParser::new()
            .parse(&text)
            .map_err(|err| format!("`{text}`: {err}"))?;
        let zone = match &schedule.timezone {
            None => chrono_tz::UTC,
            Some(name) => name
                .parse::<chrono_tz::Tz>()
                .map_err(|_| format!("`{name}` is not an IANA time zone (e.g. Europe/Berlin)"))?,
        };
        Ok(Self::Cron {
            cron: Box::new(cron),
            zone,
            text,
        })
    }

    /// The first time strictly after `after` (for intervals: one interval later).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Interval(every) => after.checked_add_signed(*every),
            Self::Cron { cron, zone, .. } => cron
                .find_next_occurrence(&after.with_timezone(zone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The next time strictly after `now`, keeping an interval's rhythm from
    /// `due` (the time it was last due) without replaying missed slots.
    fn advance(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Interval(every) => {
                let every_ms = every.num_milliseconds().max(1);
                let behind_ms = (now - due).num_milliseconds().max(0);
                let steps = behind_ms / every_ms + 1;
                due.checked_add_signed(Duration::milliseconds(every_ms.saturating_mul(steps)))
            }
            Self::Cron { .. } => self.next_after(now),
        }
    }
}

/// A scheduled skill.
#[derive(Debug, Clone)]
pub struct Job {
    /// When it runs.
    pub cadence: Cadence,
    /// When it is next due.
    pub next_due: Option<DateTime<Utc>>,
    /// Times a due run was skipped because the previous one was still going.
    pub skipped_overlaps: u64,
}

/// What the API shows of a job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobView {
    /// The skill.
    pub skill_id: String,
    /// `every 300s` or `cron 0 2 * * tue,fri`.
    pub schedule: String,
    /// RFC 3339 time it is next due.
    pub next_run: Option<String>,
    /// Due runs skipped because the previous one was still going.
    pub skipped_overlaps: u64,
}

/// Every scheduled skill and when it is due.
#[derive(Debug, Default)]
pub struct Plan {
    jobs: BTreeMap<String, Job>,
}

impl Plan {
    /// Brings the plan in line with the installed skills: `(skill, cadence,
    /// last scheduled start)`. A job whose cadence is unchanged keeps its due
    /// time; a new or changed one is due at the next slot after its last run
    /// — or now, once, if that slot passed while the host was down.
    pub fn sync(
        &mut self,
        skills: Vec<(String, Cadence, Option<DateTime<Utc>>)>,
        now: DateTime<Utc>,
    ) {
        let mut jobs = BTreeMap::new();
        for (skill, cadence, last_start) in skills {
            if let Some(job) = self.jobs.remove(&skill)
                && job.cadence == cadence
            {
                jobs.insert(skill, job);
                continue;
            }
            let next_due = match last_start {
                Some(last) => cadence.next_after(last).map(|next| next.max(now)),
                None => cadence.next_after(now),
            };
            jobs.insert(
                skill,
                Job {
                    cadence,
                    next_due,
                    skipped_overlaps: 0,
                },
            );
        }
        self.jobs = jobs;
    }

    /// The skills due at `now` whose previous run is not still going; due
    /// skills that are still running are skipped and counted. Every due job
    /// moves on to its next slot after `now`, so a late wake-up never turns
    /// into a burst of catch-up runs.
    pub fn take_due(
        &mut self,
        now: DateTime<Utc>,
        is_running: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let mut start = Vec::new();
        for (skill, job) in &mut self.jobs {
            let Some(due) = job.next_due else { continue };
            if due > now {
                continue;
            }
            job.next_due = job.cadence.advance(due, now);
            if is_running(skill) {
                job.skipped_overlaps += 1;
                tracing::info!(skill = %skill, "previous run still going; this run is skipped");
            } else {
                start.push(skill.clone());
            }
        }
        start
    }

    /// The earliest due time.
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.jobs.values().filter_map(|job| job.next_due).min()
    }

    /// The jobs for display.
    pub fn views(&self) -> Vec<JobView> {
        self.jobs
            .iter()
            .map(|(skill, job)| JobView {
                skill_id: skill.clone(),
                schedule: match &job.cadence {
                    Cadence::Interval(every) => format!("every {}s", every.num_seconds()),
                    Cadence::Cron { text, zone, .. } if *zone == chrono_tz::UTC => {
                        format!("cron {text}")
                    }
                    Cadence::Cron { text, zone, .. } => format!("cron {text} ({zone})"),
                },
                next_run: job
                    .next_due
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                skipped_overlaps: job.skipped_overlaps,
            })
            .collect()
    }

    /// One job.
    pub fn job(&self, skill: &str) -> Option<&Job> {
        self.jobs.get(skill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn interval(seconds: u64) -> Cadence {
        Cadence::from_schedule(&Schedule {
            interval_seconds: Some(seconds),
            cron: None,
            timezone: None,
        })
        .expect("cadence")
    }

    fn cron(text: &str, zone: Option<&str>) -> Cadence {
        Cadence::from_schedule(&Schedule {
            interval_seconds: None,
            cron: Some(text.to_owned()),
            timezone: zone.map(str::to_owned),
        })
        .expect("cadence")
    }

    fn never_running(_: &str) -> bool {
        false
    }

    #[test]
    fn an_interval_job_runs_once_per_interval() {
        let start = at("2026-11-27T10:00:00Z");
        let mut plan = Plan::default();
        plan.sync(vec![("a".into(), interval(60), None)], start);
        assert_eq!(plan.next_wakeup(), Some(at("2026-11-27T10:01:00Z")));
        assert!(
            plan.take_due(at("2026-11-27T10:00:59Z"), never_running)
                .is_empty()
        );
        assert_eq!(
            plan.take_due(at("2026-11-27T10:01:00Z"), never_running),
            ["a"]
        );
        assert!(
            plan.take_due(at("2026-11-27T10:01:30Z"), never_running)
                .is_empty()
        );
        assert_eq!(
            plan.take_due(at("2026-11-27T10:02:00Z"), never_running),
            ["a"]
        );
    }

    #[test]
    fn a_late_wakeup_runs_once_and_keeps_the_rhythm() {
        let mut plan = Plan::default();
        plan.sync(
            vec![("a".into(), interval(60), None)],
            at("2026-11-27T10:00:00Z"),
        );
        // Woken ten minutes late: one run, not ten.
        assert_eq!(
            plan.take_due(at("2026-11-27T10:11:30Z"), never_running),
            ["a"]
        );
        assert!(
            plan.take_due(at("2026-11-27T10:11:30Z"), never_running)
                .is_empty()
        );
        assert_eq!(plan.next_wakeup(), Some(at("2026-11-27T10:12:00Z")));
    }

    #[test]
    fn cron_honours_day_of_week() {
        // 2026-11-27 is a Friday.
        let mut plan = Plan::default();
        plan.sync(
            vec![("a".into(), cron("0 2 * * tue,fri", None), None)],
            at("2026-11-27T03:00:00Z"),
        );
        assert_eq!(
            plan.next_wakeup(),
            Some(at("2026-12-01T02:00:00Z")),
            "next Tuesday"
        );
        assert_eq!(
            plan.take_due(at("2026-12-01T02:00:00Z"), never_running),
            ["a"]
        );
        assert_eq!(
            plan.next_wakeup(),
            Some(at("2026-12-04T02:00:00Z")),
            "then Friday"
        );
    }

    #[test]
    fn cron_runs_in_its_time_zone() {
        let mut plan = Plan::default();
        plan.sync(
            vec![("a".into(), cron("0 2 * * *", Some("Europe/Berlin")), None)],
            at("2026-11-27T03:00:00Z"),
        );
        // 02:00 in Berlin (UTC+1 in winter) is 01:00 UTC.
        assert_eq!(plan.next_wakeup(), Some(at("2026-11-28T01:00:00Z")));
        assert!(
            Cadence::from_schedule(&Schedule {
                interval_seconds: None,
                cron: Some("0 2 * * *".into()),
                timezone: Some("Mars/Olympus".into()),
            })
            .is_err()
        );
    }

    #[test]
    fn a_running_job_is_skipped_and_counted() {
        let mut plan = Plan::default();
        plan.sync(
            vec![("a".into(), interval(10), None)],
            at("2026-11-27T10:00:00Z"),
        );
        assert!(
            plan.take_due(at("2026-11-27T10:00:10Z"), |_| true)
                .is_empty()
        );
        assert_eq!(plan.job("a").expect("job").skipped_overlaps, 1);
        assert_eq!(
            plan.take_due(at("2026-11-27T10:00:20Z"), never_running),
            ["a"]
        );
    }

    #[test]
    fn after_a_restart_a_missed_run_happens_once_promptly() {
        let now = at("2026-11-27T12:00:00Z");
        let mut plan = Plan::default();
        // Last ran three hours ago on a 5-minute interval: due now, once.
        plan.sync(
            vec![("a".into(), interval(300), Some(at("2026-11-27T09:00:00Z")))],
            now,
        );
        assert_eq!(plan.take_due(now, never_running), ["a"]);
        assert!(plan.take_due(now, never_running).is_empty());
        assert_eq!(plan.next_wakeup(), Some(at("2026-11-27T12:05:00Z")));
    }

    #[test]
    fn after_a_restart_a_job_not_yet_due_waits_for_its_slot() {
        let now = at("2026-11-27T12:00:00Z");
        let mut plan = Plan::default();
        plan.sync(
            vec![("a".into(), interval(300), Some(at("2026-11-27T11:58:00Z")))],
            now,
        );
        assert_eq!(plan.next_wakeup(), Some(at("2026-11-27T12:03:00Z")));
    }

    #[test]
    fn sync_keeps_unchanged_jobs_and_resets_changed_ones() {
        let t0 = at("2026-11-27T10:00:00Z");
        let mut plan = Plan::default();
        plan.sync(
            vec![
                ("a".into(), interval(60), None),
                ("b".into(), interval(60), None),
            ],
            t0,
        );
        let later = at("2026-11-27T10:00:30Z");
        plan.sync(
            vec![
                ("a".into(), interval(60), None),
                ("b".into(), interval(10), None),
            ],
            later,
        );
        assert_eq!(
            plan.job("a").and_then(|j| j.next_due),
            Some(at("2026-11-27T10:01:00Z"))
        );
        assert_eq!(
            plan.job("b").and_then(|j| j.next_due),
            Some(at("2026-11-27T10:00:40Z"))
        );
        plan.sync(vec![("a".into(), interval(60), None)], later);
        assert!(plan.job("b").is_none(), "unscheduled skills leave the plan");
    }
}
