//! `ffprobe` for formats without a built-in parser (MXF, AVI, WMV, …). Optional: when it is not
//! configured and not on PATH, such files are "unknown".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{MediaInfo, Probe};

/// A probe that takes longer than this is stopped (a hung SMB read, a pathological file).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a configured `ffprobe_path` is not used, if it is not: it must be an absolute path on a
/// local disk, and `PATH -version` must say it is ffprobe. The sync runs it once per file of
/// some formats, so it must never be "whatever program a setting names" (the setting is also
/// kept out of the settings screen and the API: file and command line only).
pub fn configured_problem(p: &Path) -> Option<String> {
    static CHECKED: Mutex<Option<HashMap<PathBuf, Option<String>>>> = Mutex::new(None);
    if let Some(known) = CHECKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(p))
    {
        return known.clone();
    }
    let problem = check_configured(p);
    CHECKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(p.to_path_buf(), problem.clone());
    problem
}

fn check_configured(p: &Path) -> Option<String> {
    let shown = p.display();
    if !p.is_absolute() {
        return Some(format!(
            "ffprobe_path는 절대 경로여야 합니다: {shown} / ffprobe_path must be an absolute path"
        ));
    }
    if let Some(fs) = crate::fsinfo::network_fs(p) {
        return Some(format!(
            "ffprobe_path는 이 컴퓨터의 디스크에 있어야 합니다 ({fs}): {shown} / ffprobe_path must be on a local disk, not a network share"
        ));
    }
    if !p.is_file() {
        return Some(format!(
            "ffprobe_path에 파일이 없습니다: {shown} / ffprobe_path is not a file"
        ));
    }
    let out = Command::new(p)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|child| wait_with_timeout(child, Duration::from_secs(10)));
    match out {
        Ok(text)
            if text
                .lines()
                .next()
                .is_some_and(|l| l.to_ascii_lowercase().starts_with("ffprobe version")) =>
        {
            None
        }
        Ok(_) => Some(format!(
            "ffprobe_path는 ffprobe가 아닙니다 (`-version`이 ffprobe라고 답하지 않음): {shown} / ffprobe_path is not ffprobe (its -version output does not say so)"
        )),
        Err(e) => Some(format!(
            "ffprobe_path를 실행할 수 없습니다: {shown} ({e}) / ffprobe_path cannot be run"
        )),
    }
}

/// The child's stdout, or an error when it does not end within `limit` (it is killed).
fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> std::io::Result<String> {
    let started = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            let out = child.wait_with_output()?;
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer to -version",
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ffprobe to use: the configured path if it passes [`configured_problem`] (otherwise none:
/// never a different program than the one configured), else `ffprobe` found on PATH.
pub fn locate(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = configured {
        return match configured_problem(p) {
            None => Some(p.to_path_buf()),
            Some(problem) => {
                tracing::warn!("{problem}");
                None
            }
        };
    }
    let exe = if cfg!(windows) {
        "ffprobe.exe"
    } else {
        "ffprobe"
    };
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(exe))
            .find(|p| p.is_file())
    })
}

/// Probe `path` with ffprobe's JSON output.
pub fn probe(bin: &Path, path: &Path) -> Probe {
    let child = Command::new(bin)
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Probe::Unsupported {
                reason: format!(
                    "unknown: ffprobe could not be started ({}): {e}",
                    bin.display()
                ),
            };
        }
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Probe::Failed {
                    error: format!("ffprobe took longer than {} s", TIMEOUT.as_secs()),
                };
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Probe::Failed {
                    error: format!("ffprobe: {e}"),
                };
            }
        }
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => {
            return Probe::Failed {
                error: format!("ffprobe: {e}"),
            };
        }
    };
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Probe::Failed {
            error: if msg.is_empty() {
                format!("ffprobe exited with {}", out.status)
            } else {
                format!("ffprobe: {msg}")
            },
        };
    }
    match parse_json(&out.stdout) {
        Some(info) => Probe::Ok { info },
        None => Probe::Failed {
            error: "ffprobe found no audio or video stream".into(),
        },
    }
}

/// Media info from ffprobe's `-show_format -show_streams` JSON.
pub fn parse_json(json: &[u8]) -> Option<MediaInfo> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let mut info = MediaInfo {
        container: v["format"]["format_name"]
            .as_str()
            .unwrap_or("unknown")
            .split(',')
            .next()
            .unwrap_or("unknown")
            .to_string(),
        duration_sec: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse::<f64>().ok())
            .filter(|d| d.is_finite() && *d > 0.0),
        ..MediaInfo::default()
    };
    for s in v["streams"].as_array()? {
        let codec = s["codec_name"].as_str().map(str::to_string);
        match s["codec_type"].as_str() {
            Some("video") if info.video_codec.is_none() => {
                info.video_codec = codec;
                info.width = s["width"].as_u64().map(|w| w as u32).filter(|&w| w > 0);
                info.height = s["height"].as_u64().map(|h| h as u32).filter(|&h| h > 0);
            }
            Some("audio") if info.audio_codec.is_none() => {
                info.audio_codec = codec.map(|c| {
                    if c.starts_with("pcm_") {
                        "pcm".into()
                    } else {
                        c
                    }
                });
            }
            _ => {}
        }
    }
    (info.video_codec.is_some() || info.audio_codec.is_some()).then_some(info)
}
