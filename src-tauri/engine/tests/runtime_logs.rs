//! The live log as the shells install it: a global `tracing` subscriber with the hub's layer,
//! so lines logged on a job's own thread (the engine's sync) reach subscribers, in order.
//! One test per binary: the global subscriber can be set only once per process.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{env, put};
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::runtime::logs::Level;
use nas_sync_engine::runtime::{JobKind, LogHub, Monitor, MonitorOptions};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn a_sync_jobs_engine_lines_reach_a_subscriber_in_order() {
    let hub = LogHub::new();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(hub.layer());
    tracing::subscriber::set_global_default(subscriber).expect("first global subscriber");
    let e = env();
    for i in 0..5 {
        put(&e.root, &format!("WSOP/2024/d{i}.mp4"), b"x");
    }
    let (_id, rx) = hub.subscribe_channel(10_000);
    let m = Monitor::new(
        e.cfg.clone(),
        Arc::new(SystemClock),
        hub.clone(),
        MonitorOptions {
            schedule: false,
            ..MonitorOptions::default()
        },
    );
    let s = m.start(JobKind::Sync, nas_sync_engine::sync::Force::No, "manual");
    assert!(m.wait(s.job_id, Duration::from_secs(60)));
    let lines: Vec<_> = rx.try_iter().collect();
    let texts: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
    let start = texts.iter().position(|t| t.starts_with("동기화 시작"));
    let done = texts.iter().position(|t| t.starts_with("동기화 완료"));
    assert!(start.is_some() && done.is_some(), "{texts:#?}");
    assert!(start < done);
    assert!(
        texts[done.unwrap_or(0)]
            .starts_with("동기화 완료: 추가 5, 변경 0, 이동 0, 복원 0, 삭제 0 / sync applied"),
        "the finish line carries the counts, Korean first: {texts:#?}"
    );
    // Every line an operator sees is Korean first, English after " / ".
    for t in &texts {
        let korean = t
            .chars()
            .next()
            .is_some_and(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c));
        assert!(korean && t.contains(" / "), "not Korean first: {t}");
    }
    // Lines logged on the job's thread by the engine itself are there too.
    assert!(
        lines
            .iter()
            .any(|l| l.target.starts_with("nas_sync_engine::sync")),
        "{texts:#?}"
    );
    assert!(lines.iter().all(|l| l.level >= Level::Info));
    let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    assert_eq!(
        hub.recent().len(),
        lines.len(),
        "the buffer holds the same lines"
    );
}
