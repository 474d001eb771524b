//! Which status changes earn a toast: entering the error state, a tripped mass-delete guard, and
//! the share coming back — transitions only (a lasting error is one toast, not one per
//! scheduled tick), and the same toast at most once per [`MIN_GAP`] when a condition flaps.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nas_sync_engine::Guard;
use nas_sync_engine::config::Config;
use nas_sync_engine::runtime::monitor::JobResult;
use nas_sync_engine::runtime::{JobInfo, JobState, Status};

/// The same toast (kind and error code) is not repeated sooner than this.
pub const MIN_GAP: Duration = Duration::from_secs(30 * 60);

const ROOT_UNREACHABLE: &str = "root_unreachable";
/// A sync refused because the share looked offline or empty (engine runtime/monitor.rs).
const GUARD_OFFLINE: &str = "guard_offline";
/// The share did not answer within `share_timeout_secs` (engine runtime/monitor/root_check.rs).
const SHARE_TIMEOUT: &str = "share_timeout";

/// The error means the NAS share is not there (unreachable, or refused as offline).
fn share_gone(code: &str) -> bool {
    code == ROOT_UNREACHABLE || code == GUARD_OFFLINE || code == SHARE_TIMEOUT
}

/// What an error means for the operator and what to do, in Korean, by its code: a toast never
/// shows the engine's message (English detail and CLI advice stay in the file log).
pub fn advice_ko(code: &str) -> &'static str {
    use nas_sync_engine::ErrorCode::*;
    let Some(code) = nas_sync_engine::ErrorCode::parse(code) else {
        return "알 수 없는 오류입니다. 실시간 로그에서 자세한 내용을 확인하세요.";
    };
    match code {
        RootUnreachable | GuardOffline => {
            "NAS 공유 폴더에 연결할 수 없습니다. NAS 전원과 네트워크, 탐색기에서 공유 경로가 열리는지 확인하세요. 연결되면 자동으로 다시 동기화합니다."
        }
        ShareTimeout => {
            "NAS가 응답하지 않습니다. NAS가 바쁘거나 멈췄는지 확인하세요. 아무것도 변경하지 않았으며, 응답하면 자동으로 다시 동기화합니다."
        }
        TargetBusy | SyncRunning => {
            "다른 프로그램이 OTT 카탈로그를 쓰고 있어 이번 동기화를 건너뛰었습니다. 다음 동기화 때 다시 시도합니다."
        }
        TargetSchema => {
            "OTT 카탈로그 파일의 형식이 예상과 다릅니다. 설정 화면에서 OTT 카탈로그 경로가 맞는지 확인하세요."
        }
        ConfigInvalid | InvalidSettings | InvalidArgument => {
            "설정에 잘못된 값이 있습니다. 설정 화면에서 빨간색으로 표시된 항목을 고치세요."
        }
        GuardMassDelete | StaleReview => {
            "OTT 플랫폼의 파일을 한꺼번에 많이 삭제하려 해서 동기화를 멈췄습니다. 대시보드에서 검토한 뒤 적용하세요."
        }
        SchemaTooNew => {
            "데이터 파일이 이 프로그램보다 새 버전에서 만들어졌습니다. 프로그램을 최신 버전으로 업데이트하세요."
        }
        Database | Io => {
            "데이터 파일을 읽거나 쓰지 못했습니다. 디스크 공간과 파일 권한을 확인한 뒤 다시 동기화하세요."
        }
        Cancelled => "작업이 취소되었습니다. 필요하면 대시보드에서 다시 실행하세요.",
        AdminRequired | AdminPinNotSet | Unauthorized | Forbidden | BadHost | BadOrigin => {
            "권한이 없어 요청을 처리하지 못했습니다. 관리자 PIN이나 접속 주소를 확인하세요."
        }
        Autostart => "로그인 시 자동 시작을 설정하지 못했습니다. 설정 화면에서 다시 시도하세요.",
        TooLarge | NotFound | NotRunning | AlreadyConfigured | UnsupportedMediaType
        | MethodNotAllowed | Unavailable | Internal => {
            "작업을 마치지 못했습니다. 실시간 로그에서 자세한 내용을 확인하세요."
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToastKind {
    ErrorEntered,
    GuardTripped,
    ShareBack,
    /// A sync that added files (setting `notify_sync_summary`, default off); not rate-limited.
    SyncSummary,
    /// A job that ended with more problems than before (unreadable folders, rows the Target
    /// refused): the sync is not an error, but the operator must look.
    NewProblems,
}

impl Toast {
    /// Whether the settings ask for this toast: `notify_errors` for the error, guard and
    /// share-back toasts, `notify_sync_summary` for the summary.
    pub fn enabled(&self, cfg: &Config) -> bool {
        match self.kind {
            ToastKind::SyncSummary => cfg.notify_sync_summary,
            _ => cfg.notify_errors,
        }
    }
}

/// The summary toast of a finished sync that added files.
fn sync_summary(job: &JobInfo) -> Option<Toast> {
    let Some(JobResult::Sync(r)) = &job.result else {
        return None;
    };
    (job.state == JobState::Succeeded && r.added > 0 && !r.dry_run).then(|| Toast {
        kind: ToastKind::SyncSummary,
        title: format!("동기화 완료: {}개 추가", r.added),
        body: format!(
            "새 파일 {}개가 OTT 카탈로그에 등록되었습니다 (이동 {}, 삭제 {}).",
            r.added, r.moved, r.deleted
        ),
        view: "history",
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub kind: ToastKind,
    pub title: String,
    pub body: String,
    /// The screen a click on it should open.
    pub view: &'static str,
}

#[derive(Default)]
pub struct Toasts {
    prev: Option<Status>,
    sent: HashMap<(ToastKind, String), Instant>,
}

impl Toasts {
    /// The toasts for the change from the previous status to `new`. `finished` is the job that
    /// just ended, if any.
    pub fn on_status(
        &mut self,
        new: &Status,
        finished: Option<&JobInfo>,
        now: Instant,
    ) -> Vec<Toast> {
        let prev_code = self
            .prev
            .as_ref()
            .and_then(|p| p.last_error.as_ref())
            .map(|e| e.code.clone());
        let new_code = new.last_error.as_ref().map(|e| e.code.clone());
        let mut out: Vec<Toast> = finished.and_then(sync_summary).into_iter().collect();
        // A share that looked offline is also a refused job, but it is the error toast below
        // (status 에러), not a guard to review.
        if let Some(job) = finished
            && job.state == JobState::Refused
            && let Some(JobResult::Sync(r)) = &job.result
            && let Some(refusal) = &r.refused
            && refusal.guard == Guard::MassDelete
        {
            out.push(Toast {
                kind: ToastKind::GuardTripped,
                title: "동기화 보류: 안전장치 작동".into(),
                body: format!(
                    "이번 동기화가 OTT 플랫폼의 파일 {}개를 삭제 처리하려 해서 아무것도 바꾸지 않고 멈췄습니다. 대시보드에서 검토한 뒤 적용하세요.",
                    r.deleted
                ),
                view: "dashboard",
            });
        }
        if let (Some(code), Some(err)) = (&new_code, &new.last_error)
            && prev_code.as_ref() != Some(code)
        {
            let title = if share_gone(code) {
                "NAS에 연결할 수 없습니다"
            } else {
                "동기화 오류"
            };
            out.push(Toast {
                kind: ToastKind::ErrorEntered,
                title: title.into(),
                body: advice_ko(&err.code).into(),
                view: "logs",
            });
        }
        let before = self.prev.as_ref().map_or(0, |p| p.problems);
        if finished.is_some_and(|j| j.state == JobState::Succeeded) && new.problems > before {
            out.push(Toast {
                kind: ToastKind::NewProblems,
                title: format!("동기화 문제 {}건", new.problems),
                body: "읽을 수 없는 폴더·파일이나 OTT 카탈로그에 반영하지 못한 파일이 있습니다. 문제 목록에서 확인하세요.".into(),
                view: "problems",
            });
        }
        if prev_code.as_deref().is_some_and(share_gone)
            && !new_code.as_deref().is_some_and(share_gone)
        {
            out.push(Toast {
                kind: ToastKind::ShareBack,
                title: "NAS 연결 복구".into(),
                body: "공유 폴더에 다시 연결되었습니다. 자동 동기화를 계속합니다.".into(),
                view: "dashboard",
            });
        }
        self.prev = Some(new.clone());
        out.retain(|t| {
            if t.kind == ToastKind::SyncSummary {
                return true;
            }
            let key = (t.kind, new_code.clone().unwrap_or_default());
            match self.sent.get(&key) {
                Some(at) if now.duration_since(*at) < MIN_GAP => false,
                _ => {
                    self.sent.insert(key, now);
                    true
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_sync_engine::runtime::StatusKind;
    use nas_sync_engine::runtime::monitor::LastError;

    fn status(error: Option<&str>) -> Status {
        let kind = if error.is_some() {
            StatusKind::Error
        } else {
            StatusKind::Ok
        };
        Status {
            status: kind,
            label: kind.label_ko(),
            job: None,
            paused: false,
            last_error: error.map(|code| LastError {
                code: code.into(),
                message: format!("{code} happened"),
                time: String::new(),
            }),
            last_sync: None,
            next_sync: None,
            problems: 0,
        }
    }

    fn finished_sync(state: JobState, added: u64) -> JobInfo {
        JobInfo {
            id: 1,
            kind: nas_sync_engine::runtime::JobKind::Sync,
            state,
            force: false,
            trigger: "schedule".into(),
            started_at: String::new(),
            finished_at: None,
            progress: Default::default(),
            result: Some(JobResult::Sync(Box::new(
                nas_sync_engine::sync::SyncReport {
                    added,
                    ..Default::default()
                },
            ))),
            error: None,
        }
    }

    #[test]
    fn a_sync_that_added_files_has_a_summary_toast_only_when_the_setting_asks() {
        let mut toasts = Toasts::default();
        let t0 = Instant::now();
        let ok = status(None);
        let none = toasts.on_status(&ok, Some(&finished_sync(JobState::Succeeded, 0)), t0);
        assert!(none.is_empty(), "nothing added: no summary");
        let first = toasts.on_status(&ok, Some(&finished_sync(JobState::Succeeded, 3)), t0);
        assert_eq!(kinds(&first), [ToastKind::SyncSummary]);
        assert_eq!(first[0].title, "동기화 완료: 3개 추가");
        assert_eq!(first[0].view, "history");
        // A summary is news each time, not a condition: the next one a minute later is shown.
        let t1 = t0 + Duration::from_secs(60);
        let second = toasts.on_status(&ok, Some(&finished_sync(JobState::Succeeded, 1)), t1);
        assert_eq!(kinds(&second), [ToastKind::SyncSummary]);
        let failed = toasts.on_status(&ok, Some(&finished_sync(JobState::Failed, 5)), t1);
        assert!(failed.is_empty(), "a failed sync has no summary");

        let mut cfg = Config::default();
        assert!(!first[0].enabled(&cfg), "the summary is off by default");
        cfg.notify_sync_summary = true;
        assert!(first[0].enabled(&cfg));
        let err = toasts.on_status(&status(Some("database")), None, t1);
        assert!(err[0].enabled(&cfg), "error toasts are on by default");
        cfg.notify_errors = false;
        assert!(!err[0].enabled(&cfg), "turned off in settings");
    }

    #[test]
    fn a_job_that_ends_with_new_problems_has_one_toast_that_opens_the_problem_list() {
        let mut toasts = Toasts::default();
        let t0 = Instant::now();
        let with = |n: u64| Status {
            problems: n,
            ..status(None)
        };
        let done = finished_sync(JobState::Succeeded, 0);
        assert!(toasts.on_status(&with(0), Some(&done), t0).is_empty());
        let first = toasts.on_status(&with(2), Some(&done), t0);
        assert_eq!(kinds(&first), [ToastKind::NewProblems]);
        assert_eq!(first[0].title, "동기화 문제 2건");
        assert_eq!(first[0].view, "problems");
        // The same problems at the next sync: nothing new.
        assert!(toasts.on_status(&with(2), Some(&done), t0).is_empty());
        // Fewer, then more again within the gap: rate-limited like the other conditions.
        assert!(toasts.on_status(&with(1), Some(&done), t0).is_empty());
        let t1 = t0 + Duration::from_secs(60);
        assert!(toasts.on_status(&with(3), Some(&done), t1).is_empty());
        let t2 = t0 + MIN_GAP + Duration::from_secs(1);
        assert!(toasts.on_status(&with(1), Some(&done), t2).is_empty());
        assert_eq!(
            kinds(&toasts.on_status(&with(4), Some(&done), t2)),
            [ToastKind::NewProblems]
        );
        // A status change without a finished job (a pause, the share check) is no toast.
        assert!(toasts.on_status(&with(9), None, t2).is_empty());
    }

    #[test]
    fn every_error_code_has_korean_advice_without_cli_flags_or_the_engines_words() {
        // advice_ko's match is exhaustive over ErrorCode; this checks what it says.
        let codes = [
            "config_invalid",
            "invalid_argument",
            "invalid_settings",
            "guard_offline",
            "guard_mass_delete",
            "target_schema",
            "target_busy",
            "too_large",
            "root_unreachable",
            "share_timeout",
            "admin_required",
            "admin_pin_not_set",
            "not_found",
            "not_running",
            "already_configured",
            "stale_review",
            "cancelled",
            "sync_running",
            "schema_too_new",
            "database",
            "io",
            "internal",
            "unauthorized",
            "forbidden",
            "bad_host",
            "bad_origin",
            "unsupported_media_type",
            "method_not_allowed",
            "unavailable",
            "autostart",
        ];
        for code in codes {
            assert!(
                nas_sync_engine::ErrorCode::parse(code).is_some(),
                "{code} is an engine code"
            );
            let a = advice_ko(code);
            assert!(a.chars().any(|c| ('가'..='힣').contains(&c)), "{code}: {a}");
            for bad in ["--", "`", "busy_timeout", "pokervod.db", "archive.db"] {
                assert!(!a.contains(bad), "{code}'s advice names {bad}: {a}");
            }
        }
        // The toast of an error says the advice, not the engine's message.
        let mut toasts = Toasts::default();
        let t = toasts.on_status(&status(Some("target_busy")), None, Instant::now());
        assert_eq!(t[0].body, advice_ko("target_busy"));
        assert!(!t[0].body.contains("happened"), "{}", t[0].body);
    }

    fn kinds(t: &[Toast]) -> Vec<ToastKind> {
        t.iter().map(|t| t.kind).collect()
    }

    #[test]
    fn a_lasting_error_is_one_toast_and_the_share_coming_back_is_another() {
        let mut toasts = Toasts::default();
        let t0 = Instant::now();
        assert!(toasts.on_status(&status(None), None, t0).is_empty());
        let first = toasts.on_status(&status(Some(ROOT_UNREACHABLE)), None, t0);
        assert_eq!(kinds(&first), [ToastKind::ErrorEntered]);
        assert_eq!(first[0].title, "NAS에 연결할 수 없습니다");
        // The same error seen again at every scheduled tick: no new toast.
        for i in 1..5 {
            let t = t0 + Duration::from_secs(i * 30 * 60);
            assert!(
                toasts
                    .on_status(&status(Some(ROOT_UNREACHABLE)), None, t)
                    .is_empty()
            );
        }
        let back = toasts.on_status(&status(None), None, t0 + Duration::from_secs(9000));
        assert_eq!(kinds(&back), [ToastKind::ShareBack]);
    }

    fn refused_sync(guard: Guard, message: &str) -> JobInfo {
        let mut job = finished_sync(JobState::Refused, 0);
        if let Some(JobResult::Sync(r)) = job.result.as_mut() {
            r.refused = Some(nas_sync_engine::sync::Refusal {
                guard,
                message: message.into(),
            });
            r.deleted = 30;
        }
        job
    }

    #[test]
    fn an_offline_share_is_the_nas_error_toast_not_a_guard_to_review() {
        let mut toasts = Toasts::default();
        let t0 = Instant::now();
        toasts.on_status(&status(None), None, t0);
        let offline = refused_sync(Guard::Offline, "NAS 공유 폴더에 접근할 수 없습니다");
        let got = toasts.on_status(&status(Some(GUARD_OFFLINE)), Some(&offline), t0);
        assert_eq!(kinds(&got), [ToastKind::ErrorEntered]);
        assert_eq!(got[0].title, "NAS에 연결할 수 없습니다");
        assert_eq!(got[0].view, "logs");
        let back = toasts.on_status(&status(None), None, t0 + Duration::from_secs(60));
        assert_eq!(kinds(&back), [ToastKind::ShareBack]);
        // A mass-delete refusal is the guard toast, with the number of deletions it held back
        // and what to do in the app (not the engine's message, which names a CLI flag).
        let guard = refused_sync(Guard::MassDelete, "… run `sync --force` to apply anyway.");
        let got = toasts.on_status(&status(None), Some(&guard), t0 + Duration::from_secs(120));
        assert_eq!(kinds(&got), [ToastKind::GuardTripped]);
        assert!(got[0].body.contains("파일 30개를 삭제"), "{}", got[0].body);
        assert!(got[0].body.contains("대시보드에서 검토"), "{}", got[0].body);
        assert!(!got[0].body.contains("--force"), "{}", got[0].body);
        assert_eq!(got[0].view, "dashboard");
    }

    #[test]
    fn a_flapping_error_is_rate_limited() {
        let mut toasts = Toasts::default();
        let t0 = Instant::now();
        let mut shown = 0;
        for i in 0..10 {
            let t = t0 + Duration::from_secs(i * 60);
            shown += toasts.on_status(&status(Some("database")), None, t).len();
            toasts.on_status(&status(None), None, t);
        }
        assert_eq!(shown, 1, "ten flaps in ten minutes: one toast");
        let later = toasts.on_status(&status(Some("database")), None, t0 + MIN_GAP * 2);
        assert_eq!(kinds(&later), [ToastKind::ErrorEntered]);
    }
}
