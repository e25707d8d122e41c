//! A store that another process holds, a file that is not a store, and a store
//! of another format are refused at open with an error that says what to do;
//! none is ever taken for an empty store.

use std::process::{Command, Stdio};
use std::time::Duration;

use workbus_store::{RedbStore, StoreError, FORMAT};

/// Run as a child process: holds the store named by the variable until killed.
#[test]
fn holder() {
    let Ok(dir) = std::env::var("WORKBUS_STORE_HOLD") else {
        return;
    };
    let _store = RedbStore::open(&dir).unwrap();
    println!("holding");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_store_held_by_another_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "holder", "--nocapture", "--test-threads=1"])
        .env("WORKBUS_STORE_HOLD", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("holding") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "the holder died"
        );
    }
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("in use by another process"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    child.kill().unwrap();
    child.wait().unwrap();
    // Its lock died with it.
    RedbStore::open(dir.path()).unwrap();
}

#[test]
fn a_store_open_in_this_process_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RedbStore::open(dir.path()).unwrap();
    assert!(matches!(
        RedbStore::open(dir.path()),
        Err(StoreError::Locked { .. })
    ));
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("workbus.redb"), vec![0x5a; 64 * 1024]).unwrap();
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("cannot be read") && msg.contains("restore it from a backup"),
        "{msg}"
    );
    // Nothing was overwritten.
    assert_eq!(
        std::fs::read(dir.path().join("workbus.redb")).unwrap(),
        vec![0x5a; 64 * 1024]
    );
}

#[test]
fn a_store_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(RedbStore::open(dir.path()).unwrap());
    {
        // Written by a later workbus.
        let db = redb::Database::create(dir.path().join("workbus.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .unwrap();
            meta.insert("format", FORMAT + 1).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = RedbStore::open(dir.path()).unwrap_err();
    let StoreError::Format {
        found, expected, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*found, *expected), (FORMAT + 1, FORMAT));
    assert!(err.to_string().contains("newer workbus"), "{err}");
}
