//! Paths, files and their identities (the security review): archive.db is never the Target, a
//! file that is not our archive.db is refused unchanged, the settings file is written for its
//! owner only and atomically, and relative paths saved from the settings screen mean the same
//! files after a restart.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{env, put};
use nas_sync_engine::archive::{APPLICATION_ID, Archive};
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::runtime::settings::{self, SaveError, SettingsStore};
use nas_sync_engine::sync::{self, SyncOptions};
use nas_sync_engine::target::CREATE_FILES_SQL;
use nas_sync_engine::{Config, Error};
use rusqlite::Connection;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-30T06:00:00Z")
        .expect("time")
        .to_utc()
}

/// A pokervod.db as its owner keeps it: the `files` table with a row, another table, in the
/// given journal mode (and closed, so the file alone is the database).
fn target_like(path: &Path, journal_mode: &str) {
    let c = Connection::open(path).expect("create pokervod.db");
    c.pragma_update(None, "journal_mode", journal_mode)
        .expect("journal mode");
    c.execute_batch(CREATE_FILES_SQL).expect("files table");
    c.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO files (nas_path, filename, catalog, format, size_bytes, hls_compatible,
                            created_at, updated_at)
         VALUES ('WSOP/a.mp4', 'a.mp4', 'WSOP', 'mp4', 1, 1, 't', 't');",
    )
    .expect("rows");
}

/// Every file in `dir` (names and bytes), to show that nothing was written or left behind.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            let bytes = if e.path().is_file() {
                fs::read(e.path()).expect("read")
            } else {
                Vec::new()
            };
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

fn expect_not_ours(result: Result<(), Error>, what: &str) {
    match result {
        Err(e @ Error::Config { .. }) => {
            assert_eq!(e.code(), "config_invalid", "{what}");
            let Error::Config { field, message } = &e else {
                unreachable!()
            };
            assert_eq!(field, "archive_db", "{what}: {message}");
            assert!(
                message.contains("NAS Sync Monitor의 archive.db가 아닙니다")
                    && message.contains("is not NAS Sync Monitor's archive.db")
                    && message.contains("nothing was changed"),
                "{what}: {message}"
            );
        }
        other => panic!("{what}: expected a config error on archive_db, got {other:?}"),
    }
}

fn open(path: &Path) -> Result<(), Error> {
    Archive::open(path).map(drop)
}

fn open_read_only(path: &Path) -> Result<(), Error> {
    Archive::open_read_only(path).map(drop)
}

#[test]
fn a_target_like_database_is_refused_by_every_archive_open_and_left_byte_identical() {
    for mode in ["delete", "wal"] {
        let tmp = tempfile::tempdir().expect("tempdir");
        // Characters a `file:` URI must escape, and Hangul.
        let dir = tmp.path().join("카탈로그 #1 %41");
        fs::create_dir_all(&dir).expect("dir");
        let db = dir.join("pokervod.db");
        target_like(&db, mode);
        let before = snapshot(&dir);
        expect_not_ours(open(&db), mode);
        expect_not_ours(open_read_only(&db), mode);
        expect_not_ours(Archive::read_snapshot(&db).map(drop), mode);
        expect_not_ours(Archive::check_ours(&db), mode);
        let db_before = &before
            .iter()
            .find(|(n, _)| n == "pokervod.db")
            .expect("db")
            .1;
        assert_eq!(
            &fs::read(&db).expect("read"),
            db_before,
            "{mode}: pokervod.db was modified"
        );
        let names = |s: Vec<(String, Vec<u8>)>| s.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            names(snapshot(&dir)),
            names(before.clone()),
            "{mode}: files left"
        );
        // No migration, stamp or journal switch reached the database either.
        let c = Connection::open(&db).expect("reopen");
        let app_id: i32 = c
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .expect("app id");
        let version: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!((app_id, version), (0, 0), "{mode}");
    }
}

#[test]
fn a_database_of_another_program_or_version_mix_is_refused_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Another program's stamp, even on an otherwise empty database.
    let stamped = dir.path().join("stamped.db");
    Connection::open(&stamped)
        .expect("create")
        .pragma_update(None, "application_id", 0x1234_5678)
        .expect("stamp");
    // A user_version we could have written, but not our tables.
    let tables = dir.path().join("tables.db");
    Connection::open(&tables)
        .expect("create")
        .execute_batch("CREATE TABLE files (id INTEGER PRIMARY KEY); PRAGMA user_version = 2;")
        .expect("schema");
    // Only a user_version, no tables: not a database we ever wrote.
    let version_only = dir.path().join("version.db");
    Connection::open(&version_only)
        .expect("create")
        .pragma_update(None, "user_version", 3)
        .expect("version");
    for db in [&stamped, &tables, &version_only] {
        let before = fs::read(db).expect("read");
        expect_not_ours(open(db), &db.display().to_string());
        expect_not_ours(open_read_only(db), &db.display().to_string());
        assert_eq!(fs::read(db).expect("read"), before, "{}", db.display());
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, body) in [
        ("notes.db", b"root = \"/share\"\n".repeat(20)),
        ("short.db", b"SQLite".to_vec()),
        ("garbage.db", vec![0xAB; 4096]),
    ] {
        let p = dir.path().join(name);
        fs::write(&p, &body).expect("write");
        let before = snapshot(dir.path());
        expect_not_ours(open(&p), name);
        expect_not_ours(open_read_only(&p), name);
        assert_eq!(
            snapshot(dir.path()),
            before,
            "{name}: something was written"
        );
    }
}

#[test]
fn a_new_or_empty_archive_db_is_stamped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("new/archive.db");
    let empty = dir.path().join("empty.db");
    fs::write(&empty, b"").expect("empty file");
    for p in [&fresh, &empty] {
        drop(Archive::open(p).expect("open"));
        let app_id: i32 = Connection::open(p)
            .expect("reopen")
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .expect("app id");
        assert_eq!(app_id, APPLICATION_ID, "{}", p.display());
        assert_eq!(APPLICATION_ID.to_be_bytes(), *b"NSMa");
        Archive::open_read_only(p)
            .expect("read-only open of our stamped file")
            .expect("migrated");
    }
    // A read-only open of a missing file is still "empty", and creates nothing.
    let missing = dir.path().join("missing.db");
    assert!(
        Archive::open_read_only(&missing)
            .expect("missing")
            .is_none()
    );
    assert!(!missing.exists());
}

#[test]
fn an_archive_db_from_before_the_stamp_is_stamped_with_its_data_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("archive.db");
    {
        let a = Archive::open(&p).expect("create");
        a.conn()
            .execute_batch(
                "INSERT INTO scans VALUES (1, 't', 't', 1, 1, 1, 0, 0, 0, 0, 1);
                 INSERT INTO files (path, catalog, name, name_key, ext, kind, size, mtime, first_seen)
                 VALUES ('WSOP/a.mp4', 'WSOP', 'a.mp4', 'a', 'mp4', 'video', 5, 7, 1);",
            )
            .expect("a file");
        // As the builds before the stamp left it.
        a.conn()
            .pragma_update(None, "application_id", 0)
            .expect("unstamp");
    }
    // Read-only opens accept it (and cannot stamp).
    let (files, _) = Archive::read_snapshot(&p).expect("read-only snapshot");
    assert_eq!(files.len(), 1);
    let a = Archive::open(&p).expect("an unstamped archive.db of ours opens");
    let app_id: i32 = a
        .conn()
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .expect("app id");
    assert_eq!(app_id, APPLICATION_ID);
    assert_eq!(a.load_files().expect("files")[0].path, "WSOP/a.mp4");
}

#[test]
fn archive_db_naming_the_target_by_another_path_is_a_field_error_on_archive_db() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("dir");
    fs::create_dir_all(&sub).expect("dir");
    let root = dir.path().join("share");
    fs::create_dir_all(&root).expect("share");
    let target = sub.join("pokervod.db");
    let base = Config {
        root: Some(root),
        target_db: Some(target.clone()),
        ..Config::default()
    };
    let mut aliases: Vec<PathBuf> = vec![dir.path().join("dir/../dir/pokervod.db")];
    #[cfg(unix)]
    {
        let dir_link = dir.path().join("dirlink");
        std::os::unix::fs::symlink(&sub, &dir_link).expect("dir symlink");
        aliases.push(dir_link.join("pokervod.db"));
    }
    // The Target does not exist yet: its folder's canonical path joined with the name.
    assert!(!target.exists());
    check_aliases(&base, &aliases, "missing target");
    target_like(&target, "delete");
    #[cfg(unix)]
    {
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        aliases.push(link);
    }
    let hard = dir.path().join("hard.db");
    if fs::hard_link(&target, &hard).is_ok() {
        aliases.push(hard);
    }
    check_aliases(&base, &aliases, "existing target");

    // A different file passes both checks.
    let ok = Config {
        archive_db: Some(dir.path().join("archive.db")),
        ..base.clone()
    };
    ok.check_distinct_databases().expect("distinct files");
    assert_eq!(settings::validate(&ok), vec![]);
}

fn check_aliases(base: &Config, aliases: &[PathBuf], what: &str) {
    for alias in aliases {
        let cfg = Config {
            archive_db: Some(alias.clone()),
            ..base.clone()
        };
        let ctx = format!("{what}: {}", alias.display());
        match cfg.check_distinct_databases() {
            Err(Error::Config { field, message }) => {
                assert_eq!(field, "archive_db", "{ctx}");
                assert!(
                    message.contains("같은 파일") && message.contains(" / "),
                    "{ctx}"
                );
            }
            other => panic!("{ctx}: expected a config error, got {other:?}"),
        }
        // The CLI's check after its flags (`Config::validate`) catches it too.
        assert!(
            matches!(cfg.validate(), Err(Error::Config { ref field, .. }) if field == "archive_db"),
            "{ctx}"
        );
        let errors = settings::validate(&cfg);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["archive_db"], "{ctx}: {errors:?}");
    }
}

#[test]
fn the_settings_screen_refuses_an_archive_db_that_is_another_programs_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("share");
    fs::create_dir_all(&root).expect("share");
    let other = dir.path().join("catalog-copy.db");
    target_like(&other, "delete");
    let before = fs::read(&other).expect("read");
    let cfg = Config {
        root: Some(root),
        archive_db: Some(other.clone()),
        target_db: Some(dir.path().join("pokervod.db")),
        ..Config::default()
    };
    let errors = settings::validate(&cfg);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "archive_db");
    assert!(
        errors[0]
            .message
            .contains("is not NAS Sync Monitor's archive.db")
    );
    assert_eq!(fs::read(&other).expect("read"), before);
}

#[test]
fn a_sync_whose_archive_db_is_the_target_leaves_pokervod_db_unchanged() {
    let e = env();
    put(&e.root, "WSOP/2024/a.mp4", b"x");
    target_like(&e.target, "delete");
    let before = fs::read(&e.target).expect("read");
    // Spelled differently, so only identity (or the file's content) tells.
    let alias = e.target.parent().expect("dir").join("share/../pokervod.db");
    let cfg = Config {
        archive_db: Some(alias),
        ..e.cfg.clone()
    };
    let err = sync::run_sync(&cfg, &SystemClock, SyncOptions::default())
        .expect_err("the sync must refuse");
    assert_eq!(err.code(), "config_invalid", "{err}");
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "archive_db"),
        "{err:?}"
    );
    assert_eq!(
        fs::read(&e.target).expect("read"),
        before,
        "pokervod.db changed"
    );
}

#[cfg(unix)]
#[test]
fn the_settings_file_is_owner_only_after_a_save() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("share");
    fs::create_dir_all(&root).expect("share");
    let path = dir.path().join("nas-sync.toml");
    let store = SettingsStore::new(&path);
    let cfg = Config {
        root: Some(root),
        target_db: Some(dir.path().join("pokervod.db")),
        ..Config::default()
    };
    store.save(&cfg).expect("first save");
    let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "a new settings file");
    // A file found readable by others is left so until the next save.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    store.load(now()).expect("load");
    assert_eq!(mode(&path), 0o644, "loading does not touch it");
    store.save(&cfg).expect("second save");
    assert_eq!(mode(&path), 0o600, "the next save makes it owner-only");
}

#[test]
fn two_saves_at_once_both_succeed_and_the_file_always_parses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("share");
    fs::create_dir_all(&root).expect("share");
    let conf = dir.path().join("conf");
    let path = conf.join("nas-sync.toml");
    let cfg = |interval: u32| Config {
        root: Some(root.clone()),
        target_db: Some(dir.path().join("pokervod.db")),
        interval_minutes: interval,
        ignore: vec!["*.part".repeat(200)],
        ..Config::default()
    };
    let (a, b) = (cfg(11), cfg(22));
    SettingsStore::new(&path).save(&a).expect("initial save");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = [&a, &b]
            .into_iter()
            .map(|c| {
                let store = SettingsStore::new(&path);
                s.spawn(move || {
                    for _ in 0..40 {
                        store.save(c).expect("a concurrent save failed");
                    }
                })
            })
            .collect();
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                // Windows can refuse to open a file while it is being replaced; never a part.
                if let Ok(text) = fs::read_to_string(&path) {
                    let got = Config::from_toml(&text, path.parent())
                        .unwrap_or_else(|e| panic!("a torn settings file: {e}\n{text}"));
                    assert!([11, 22].contains(&got.interval_minutes));
                    reads += 1;
                }
                // Windows cannot replace a file while it is open: leave the writers room.
                if cfg!(windows) {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
            reads
        });
        // Every writer is joined and the reader stopped before any failure is reported (a
        // writer's panic must not leave the reader spinning).
        let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader.join().expect("the reader saw a torn file");
        assert!(
            results.iter().all(Result::is_ok),
            "a concurrent save failed"
        );
        assert!(reads > 0, "the reader read");
    });
    let last = SettingsStore::new(&path).load(now()).expect("load");
    assert!([11, 22].contains(&last.config.interval_minutes));
    let names: Vec<String> = fs::read_dir(&conf)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["nas-sync.toml"], "temp files left behind");
}

#[test]
fn a_failed_save_leaves_no_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("share");
    fs::create_dir_all(&root).expect("share");
    // The settings path is a folder: the rename over it fails.
    let path = dir.path().join("nas-sync.toml");
    fs::create_dir_all(path.join("occupied")).expect("a folder in the way");
    let cfg = Config {
        root: Some(root),
        target_db: Some(dir.path().join("pokervod.db")),
        ..Config::default()
    };
    let before = snapshot(dir.path());
    match SettingsStore::new(&path).save(&cfg) {
        Err(SaveError::Io(_)) => {}
        Err(SaveError::Invalid(e)) => panic!("unexpected field errors: {e:?}"),
        Ok(()) => panic!("saving over a folder succeeded"),
    }
    assert_eq!(snapshot(dir.path()), before, "a temp file was left behind");
}

#[test]
fn relative_paths_resolved_against_the_settings_folder_survive_a_save_and_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("conf");
    fs::create_dir_all(conf.join("share")).expect("share");
    fs::create_dir_all(conf.join("data")).expect("data");
    let store = SettingsStore::new(conf.join("nas-sync.toml"));
    // What the settings screen sends.
    let mut cfg = Config {
        root: Some(PathBuf::from("share")),
        archive_db: Some(PathBuf::from("./data/archive.db")),
        target_db: Some(PathBuf::from("pokervod.db")),
        ffprobe_path: Some(PathBuf::from("tools/ffprobe")),
        ..Config::default()
    };
    cfg.resolve_relative_paths(store.path().parent().expect("folder"));
    for p in [
        &cfg.root,
        &cfg.archive_db,
        &cfg.target_db,
        &cfg.ffprobe_path,
    ] {
        let p = p.as_deref().expect("set");
        assert!(p.is_absolute(), "{} is still relative", p.display());
        assert!(
            p.starts_with(&conf),
            "{} is not under the settings folder",
            p.display()
        );
    }
    // ffprobe_path is resolved like the others, but saving checks that it is a real ffprobe
    // (tests/admin_boundary.rs), which this folder has not.
    let resolved_ffprobe = cfg.ffprobe_path.take();
    store.save(&cfg).expect("save");
    let loaded = store.load(now()).expect("load").config;
    assert_eq!(loaded.root, cfg.root);
    assert_eq!(loaded.archive_db, cfg.archive_db);
    assert_eq!(loaded.target_db, cfg.target_db);
    cfg.ffprobe_path = resolved_ffprobe;
    // A config file's relative paths resolve the same way when it is loaded.
    let from_file = Config::from_toml(
        "root = \"share\"\narchive_db = \"./data/archive.db\"\ntarget_db = \"pokervod.db\"\nffprobe_path = \"tools/ffprobe\"\n",
        Some(&conf),
    )
    .expect("parses");
    assert_eq!(from_file.root, cfg.root);
    assert_eq!(from_file.archive_db, cfg.archive_db);
    assert_eq!(from_file.target_db, cfg.target_db);
    assert_eq!(from_file.ffprobe_path, cfg.ffprobe_path);
    // An empty value stays empty (validation names it) instead of becoming the folder.
    let mut empty = Config {
        root: Some(PathBuf::new()),
        ..Config::default()
    };
    empty.resolve_relative_paths(&conf);
    assert_eq!(empty.root, Some(PathBuf::new()));
}
