//! The scheduler on a manual clock: nothing here sleeps waiting for time to
//! pass; the test moves the clock and waits for the runs it expects.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sc_core::clock::{Clock as _, ManualClock};
use sc_core::run::{RunEvent, RunReport, RunStatus};
use sc_runtime::SkillHost;
use sc_scheduler::Scheduler;
use sc_testkit::Install;
use tokio::sync::{broadcast, watch};

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

struct Running {
    host: Arc<SkillHost>,
    scheduler: Arc<Scheduler>,
    runs: broadcast::Receiver<RunEvent>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(install: &Install, clock: Arc<ManualClock>) -> Running {
    let host = install.host_on(install.config(), clock);
    let runs = host.subscribe_runs();
    let scheduler = Scheduler::new(host.clone());
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(scheduler.clone().run(stop_rx));
    Running {
        host,
        scheduler,
        runs,
        stop,
        task,
    }
}

impl Running {
    /// The next finished run (fails the test if none comes).
    async fn next_run(&mut self) -> RunReport {
        // Generous: a loaded 2-core CI machine compiles skills slowly.
        loop {
            let event = tokio::time::timeout(Duration::from_secs(120), self.runs.recv())
                .await
                .expect("a run should finish")
                .expect("run channel");
            if let RunEvent::Finished(report) = event {
                return report;
            }
        }
    }

    /// Waits until the scheduler has finished with a skill's run (the report
    /// is broadcast a moment before the run's bookkeeping ends).
    async fn idle(&self, skill: &str) {
        for _ in 0..5_000 {
            if !self.scheduler.is_running(skill) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{skill} never finished");
    }

    /// Waits until the scheduler has planned its jobs.
    async fn planned(&self) {
        for _ in 0..2_000 {
            if !self.scheduler.jobs().is_empty() {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the scheduler never planned its jobs");
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("scheduler task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_skills_run_once_per_interval() {
    let install = Install::with(&[]);
    install.add_custom("noop", "ticker", "schedule:\n  interval_seconds: 60\n");
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut running = start(&install, clock.clone());
    running.planned().await;
    let job = &running.scheduler.jobs()[0];
    assert_eq!(job.next_run.as_deref(), Some("2026-11-27T10:01:00Z"));
    assert_eq!(job.schedule, "every 60s");

    clock.advance(chrono::Duration::seconds(60));
    let report = running.next_run().await;
    assert_eq!(
        (report.skill.as_str(), report.status),
        ("ticker", RunStatus::NoData)
    );
    running.idle("ticker").await;
    clock.advance(chrono::Duration::seconds(60));
    running.next_run().await;
    let runs = running.host.history().runs("ticker", 10).expect("history");
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r.trigger == sc_core::run::Trigger::Schedule)
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_skills_run_on_their_day_of_week() {
    let install = Install::with(&[]);
    install.add_custom("noop", "weekly", "schedule:\n  cron: \"0 2 * * tue,fri\"\n");
    // Friday 2026-11-27 10:00 UTC: next is Tuesday 2026-12-01 02:00.
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut running = start(&install, clock.clone());
    running.planned().await;
    assert_eq!(
        running.scheduler.jobs()[0].next_run.as_deref(),
        Some("2026-12-01T02:00:00Z")
    );
    clock.advance(chrono::Duration::hours(87)); // Tuesday 01:00: not yet
    clock.advance(chrono::Duration::hours(1)); // Tuesday 02:00
    let report = running.next_run().await;
    assert_eq!(report.skill, "weekly");
    assert_eq!(
        running.scheduler.jobs()[0].next_run.as_deref(),
        Some("2026-12-04T02:00:00Z")
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_still_running_is_skipped_not_overlapped() {
    let install = Install::with(&[]);
    install.add_custom(
        "slow",
        "busy",
        "schedule:\n  interval_seconds: 10\nlimits:\n  timeout_ms: 20000\n",
    );
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut running = start(&install, clock.clone());
    running.planned().await;
    clock.advance(chrono::Duration::seconds(10));
    // Wait for the run to be in flight, then make the next slot come due.
    for _ in 0..5_000 {
        if running.host.running("busy") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(running.host.running("busy"), 1);
    clock.advance(chrono::Duration::seconds(10));
    let report = running.next_run().await;
    assert_eq!(report.status, RunStatus::Ok);
    let job = &running.scheduler.jobs()[0];
    assert_eq!(
        job.skipped_overlaps, 1,
        "the slot that came due mid-run is skipped"
    );
    assert_eq!(
        running
            .host
            .history()
            .runs("busy", 10)
            .expect("history")
            .len(),
        1
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_startup_runs_once_and_is_remembered() {
    let install = Install::with(&[]);
    install.add_custom("noop", "baseliner", "run_on_first_startup: true\n");
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut running = start(&install, clock.clone());
    let report = running.next_run().await;
    assert_eq!(report.skill, "baseliner");
    // The success mark is written just after the run's report goes out.
    let mut marked = false;
    for _ in 0..5_000 {
        marked = running
            .host
            .history()
            .startup_done("baseliner")
            .expect("mark");
        if marked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(marked, "a successful first-startup run is remembered");
    running.stop().await;

    // A restart does not run it again.
    let running = start(&install, clock.clone());
    running.scheduler.run_first_startup().await;
    let runs = running
        .host
        .history()
        .runs("baseliner", 10)
        .expect("history");
    assert_eq!(runs.len(), 1, "first-startup runs once across restarts");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_startup_is_retried_with_backoff_and_does_not_stop_scheduling() {
    let install = Install::with(&[]);
    install.add_custom("panics", "fragile", "run_on_first_startup: true\n");
    install.add_custom("noop", "ticker", "schedule:\n  interval_seconds: 60\n");
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut running = start(&install, clock.clone());
    let first = running.next_run().await;
    assert_eq!(
        (first.skill.as_str(), first.status),
        ("fragile", RunStatus::Error)
    );
    running.planned().await;
    // The retry waits out its backoff (5 s, then 10 s, 20 s …) …
    clock.advance(chrono::Duration::seconds(5));
    let retry = running.next_run().await;
    assert_eq!(
        (retry.skill.as_str(), retry.status),
        ("fragile", RunStatus::Error)
    );
    // … and scheduling goes on despite the failures.
    clock.advance(chrono::Duration::seconds(55));
    let mut retries = 1;
    loop {
        let report = running.next_run().await;
        if report.skill == "ticker" {
            break;
        }
        retries += 1;
    }
    assert!(
        retries <= 3,
        "backoff keeps retries rare: {retries} in 60 s"
    );
    assert!(
        !running
            .host
            .history()
            .startup_done("fragile")
            .expect("mark")
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_downtime_runs_a_missed_job_once() {
    let install = Install::with(&[]);
    install.add_custom("noop", "ticker", "schedule:\n  interval_seconds: 60\n");
    // The run history is stamped with real time, so this clock starts there.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut running = start(&install, clock.clone());
    running.planned().await;
    clock.advance(chrono::Duration::seconds(60));
    running.next_run().await;
    running.stop().await;

    // Down for an hour: sixty slots missed, one run on restart.
    clock.advance(chrono::Duration::hours(1));
    let mut running = start(&install, clock.clone());
    let report = running.next_run().await;
    assert_eq!(report.skill, "ticker");
    running.planned().await;
    let next = running.scheduler.jobs()[0].next_run.clone();
    let expected = (clock.now() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(next.as_deref(), Some(expected.as_str()));
    assert_eq!(
        running
            .host
            .history()
            .runs("ticker", 100)
            .expect("history")
            .len(),
        2
    );
    running.stop().await;
}
