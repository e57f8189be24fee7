//! Crash safety of the embedded store under `kill -9`: a child process (this test binary run
//! again in "writer child" mode) writes in a loop and prints every write the store acknowledged;
//! the parent kills it with SIGKILL at a random moment, reopens the store and checks that every
//! acknowledged write is there with its value and revision, that history and current state agree,
//! that no revision is reused, and that the store still reads, watches and writes. Several rounds
//! run on the same directory, the last with concurrent writers (group commits).

use std::{
    collections::{BTreeMap, HashMap},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use storage::{Event, KeyValue, Revision, Store, embedded::EmbeddedStore, prefix_end};

/// Set in the child: the store directory. Its absence makes `writer_child` a no-op.
const CHILD_DIR: &str = "TKE_STORAGE_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "TKE_STORAGE_CRASH_CHILD_ROUND";
const CHILD_WRITERS: &str = "TKE_STORAGE_CRASH_CHILD_WRITERS";
/// The child stops by itself after this long, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);
/// How long the parent waits for the acknowledgements it wants, and for a store to open.
const DEADLINE: Duration = Duration::from_secs(60);
const PREFIX: &str = "/crash/";

/// One write the child's store acknowledged.
#[derive(Clone, Debug)]
struct Ack {
    round: usize,
    kind: Kind,
    revision: Revision,
    key: String,
    /// The value written (creates and updates).
    value: Option<Bytes>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Create,
    Update,
    Delete,
}

/// The value written for `tag`: the tag repeated `reps` times, so values vary in size (up to a
/// few KiB) while a line of output describes them.
fn value(tag: &str, reps: usize) -> Bytes {
    Bytes::from(format!("{tag}|").repeat(reps))
}

/// The line printed for an acknowledged write: `ACK <kind> <revision> <key> [<tag> <reps>]`.
fn parse_ack(line: &str, round: usize) -> Option<Ack> {
    // libtest may print its own text before the child's first line: find ours in the line.
    let line = &line[line.find("ACK ")?..];
    let mut parts = line.split(' ').skip(1);
    let kind = match parts.next()? {
        "C" => Kind::Create,
        "U" => Kind::Update,
        "D" => Kind::Delete,
        _ => return None,
    };
    let revision = parts.next()?.parse().ok()?;
    let key = parts.next()?.to_string();
    let value = match kind {
        Kind::Delete => None,
        _ => Some(value(parts.next()?, parts.next()?.parse().ok()?)),
    };
    Some(Ack { round, kind, revision, key, value })
}

/// The child: writes under `/crash/r<round>/w<writer>/` with `writers` concurrent tasks, each
/// cycling create, create, update (of its hot key, compare-and-swap), delete (of an earlier
/// key), and prints each acknowledged write. Runs until killed.
#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let round: usize = std::env::var(CHILD_ROUND).ok().and_then(|r| r.parse().ok()).expect("round");
    let writers: usize = std::env::var(CHILD_WRITERS).ok().and_then(|w| w.parse().ok()).expect("writers");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let store: Arc<dyn Store> = Arc::new(open(Path::new(&dir)));
        let print = |line: String| {
            // One write(2) per line (well under PIPE_BUF), so a kill never leaves half a line.
            let mut out = std::io::stdout().lock();
            out.write_all(format!("{line}\n").as_bytes()).expect("stdout");
            out.flush().expect("stdout");
        };
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let base = format!("{PREFIX}r{round}/w{w}/");
                    let hot_key = format!("{base}hot");
                    let tag = format!("r{round}w{w}i0");
                    let mut hot = store.create(&hot_key, value(&tag, 1)).await.expect("create the hot key");
                    print(format!("ACK C {} {hot_key} {tag} 1", hot.mod_revision));
                    let started = Instant::now();
                    let mut i = 4usize;
                    while started.elapsed() < CHILD_LIFETIME {
                        let tag = format!("r{round}w{w}i{i}");
                        let reps = 1 + (i * 37) % 100;
                        match i % 4 {
                            0 | 1 => {
                                let key = format!("{base}k{i}");
                                let kv = store.create(&key, value(&tag, reps)).await.expect("create");
                                print(format!("ACK C {} {key} {tag} {reps}", kv.mod_revision));
                            }
                            2 => {
                                hot =
                                    store.update(&hot_key, value(&tag, reps), hot.mod_revision).await.expect("update");
                                print(format!("ACK U {} {hot_key} {tag} {reps}", hot.mod_revision));
                            }
                            _ => {
                                // k(i-3) was created at i-3 (≡ 0 mod 4; i starts at 4).
                                let key = format!("{base}k{}", i - 3);
                                let (_, revision) = store.delete(&key, None).await.expect("delete");
                                print(format!("ACK D {revision} {key}"));
                            }
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("writer task");
        }
    });
}

/// Opens the store, retrying while the previous holder of the file (the parent's last check,
/// whose writer thread ends asynchronously) still has it open.
fn open(dir: &Path) -> EmbeddedStore {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match EmbeddedStore::open(dir) {
            Ok(store) => return store,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::yield_now();
            }
            Err(e) => panic!("cannot open the store in {}: {e}", dir.display()),
        }
    }
}

/// Kills the child when dropped, so a failing parent leaves no writer behind.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs one writer child on `dir`, kills it with SIGKILL once it has acknowledged `target`
/// writes (or at the deadline), and returns every write it acknowledged.
fn crash_round(dir: &Path, round: usize, writers: usize, target: usize) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = ChildGuard(
        Command::new(exe)
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .env(CHILD_ROUND, round.to_string())
            .env(CHILD_WRITERS, writers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the writer child"),
    );
    let stdout = child.0.stdout.take().expect("the child's stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    let take = |line: String, acks: &mut Vec<Ack>| {
        if line.contains("ACK ") {
            acks.push(parse_ack(&line, round).unwrap_or_else(|| panic!("a malformed acknowledgement: {line:?}")));
        }
    };
    let deadline = Instant::now() + DEADLINE;
    while acks.len() < target {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => take(line, &mut acks),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the writer child exited on its own after {} writes", acks.len())
            }
        }
    }
    assert!(child.0.try_wait().expect("child status").is_none(), "the writer child is still writing when killed");
    // SIGKILL: no destructor, no flush, no clean shutdown of the database.
    child.0.kill().expect("kill -9 the writer child");
    let status = child.0.wait().expect("reap the writer child");
    assert!(!status.success(), "the child was killed");
    // Lines already in the pipe are acknowledged writes too.
    for line in rx.iter() {
        take(line, &mut acks);
    }
    reader.join().expect("reader thread");
    assert!(acks.len() >= 100.min(target), "only {} writes acknowledged before the deadline", acks.len());
    acks
}

/// The state (key → key-value) after applying `events` in order.
fn fold(events: &[Event]) -> BTreeMap<String, KeyValue> {
    let mut state = BTreeMap::new();
    for ev in events {
        match ev {
            Event::Put { kv, .. } => {
                state.insert(kv.key.clone(), kv.clone());
            }
            Event::Delete { prev, .. } => {
                state.remove(&prev.key);
            }
        }
    }
    state
}

/// Reopens the store after a crash and checks it against every acknowledged write so far
/// (`acks`, all rounds). `writers[r]` is how many writers round `r` had (each may have had one
/// write committed but not acknowledged). Returns the acknowledgement of a write made after
/// reopening, which joins the history.
async fn check_after_crash(dir: &Path, acks: &[Ack], writers: &[usize], round: usize) -> Ack {
    let store: Arc<dyn Store> = Arc::new(
        tokio::task::spawn_blocking({
            let dir = dir.to_path_buf();
            move || open(&dir)
        })
        .await
        .expect("open task"),
    );

    // No revision was given to two acknowledged writes, across restarts.
    let mut by_revision: HashMap<Revision, &Ack> = HashMap::new();
    for ack in acks {
        if let Some(other) = by_revision.insert(ack.revision, ack) {
            panic!("revision {} acknowledged twice: {other:?} and {ack:?}", ack.revision);
        }
    }
    let max_acked = acks.iter().map(|a| a.revision).max().unwrap_or(1);
    let (current, compacted) = store.revisions().await.expect("revisions");
    assert_eq!(compacted, 1);
    assert!(
        current >= max_acked,
        "round {round}: the store is at {current}, below the acknowledged revision {max_acked}"
    );

    // The whole history, replayed by a watch from the first revision.
    let mut watch = store.watch(PREFIX, 2).await.expect("watch from the first revision");
    let mut history: Vec<Event> = Vec::new();
    while history.last().map(Event::revision).unwrap_or(1) < current {
        let batch = tokio::time::timeout(DEADLINE, watch.stream.next())
            .await
            .expect("replay in time")
            .expect("open")
            .expect("replay");
        history.extend(batch.events);
    }
    let revisions: Vec<Revision> = history.iter().map(Event::revision).collect();
    assert_eq!(
        revisions,
        (2..=current).collect::<Vec<_>>(),
        "round {round}: the history has every revision once, in order"
    );

    // Every acknowledged write is there, at its revision, with its value.
    for ack in acks {
        let ev = &history[(ack.revision - 2) as usize];
        match (ack.kind, ev) {
            (Kind::Create, Event::Put { kv, prev: None }) | (Kind::Update, Event::Put { kv, prev: Some(_) }) => {
                assert_eq!(kv.key, ack.key, "{ack:?}");
                assert_eq!(Some(&kv.value), ack.value.as_ref(), "the value of {ack:?}");
            }
            (Kind::Delete, Event::Delete { prev, .. }) => assert_eq!(prev.key, ack.key, "{ack:?}"),
            _ => panic!("round {round}: {ack:?} is logged as {ev:?}"),
        }
    }
    // Writes committed but not acknowledged: at most the one each writer had in flight.
    for (r, &n) in writers.iter().enumerate() {
        let prefix = format!("{PREFIX}r{r}/");
        let unacked =
            history.iter().filter(|e| e.key().starts_with(&prefix) && !by_revision.contains_key(&e.revision())).count();
        assert!(unacked <= n, "round {r}: {unacked} unacknowledged writes committed with {n} writers");
        if r == round {
            let acked = acks.iter().filter(|a| a.round == r).count();
            eprintln!(
                "round {r}: {n} writer(s), {acked} writes acknowledged, {unacked} committed unacknowledged, store at {current}"
            );
        }
    }

    // The current state is the history applied, and past states read back as they were.
    let end = prefix_end(PREFIX);
    let now = store.range(PREFIX, &end, 0, 0).await.expect("range");
    assert_eq!(now.revision, current);
    assert_eq!(now.kvs, fold(&history).into_values().collect::<Vec<_>>(), "round {round}: the current state");
    let mut rng = rand::rng();
    for _ in 0..3 {
        let at = rng.random_range(2..=current);
        let past = store.range(PREFIX, &end, 0, at).await.expect("range at a past revision");
        let want: Vec<KeyValue> = fold(&history[..=(at - 2) as usize]).into_values().collect();
        assert_eq!(past.kvs, want, "round {round}: the state at revision {at}");
    }
    // Acknowledged creates that no acknowledged delete removed are readable now, unchanged.
    for ack in acks.iter().filter(|a| a.kind == Kind::Create && !a.key.ends_with("/hot")) {
        let deleted = history.iter().any(|e| matches!(e, Event::Delete { prev, .. } if prev.key == ack.key));
        let (got, _) = store.get(&ack.key).await.expect("get");
        match got {
            Some(kv) => assert_eq!((kv.mod_revision, Some(&kv.value)), (ack.revision, ack.value.as_ref()), "{ack:?}"),
            None => assert!(deleted, "round {round}: {ack:?} is gone without a delete"),
        }
    }

    // Still writable, with a revision above every one handed out before; the watch follows live.
    let key = format!("{PREFIX}after/r{round}");
    let tag = format!("after{round}");
    let kv = store.create(&key, value(&tag, 3)).await.expect("a write after the crash");
    assert_eq!(kv.mod_revision, current + 1, "round {round}: the revision continues where the crashed child stopped");
    assert!(kv.mod_revision > max_acked);
    let live = loop {
        let batch = tokio::time::timeout(DEADLINE, watch.stream.next())
            .await
            .expect("live event in time")
            .expect("open")
            .expect("live");
        // Skip an idle progress notification.
        if !batch.events.is_empty() {
            break batch;
        }
    };
    assert_eq!(live.events, vec![Event::Put { kv: kv.clone(), prev: None }]);
    // This round's writes replay from their first revision.
    if let Some(first) = acks.iter().filter(|a| a.round == round).map(|a| a.revision).min() {
        let mut w = store.watch(&format!("{PREFIX}r{round}/"), first).await.expect("watch the round");
        let batch = tokio::time::timeout(DEADLINE, w.stream.next())
            .await
            .expect("replay in time")
            .expect("open")
            .expect("replay");
        assert_eq!(batch.events.first().map(Event::revision), Some(first));
    }
    Ack { round, kind: Kind::Create, revision: kv.mod_revision, key, value: Some(kv.value) }
}

/// Rounds of crash and recovery on one directory: five with one writer, one with eight.
#[test]
fn acknowledged_writes_survive_kill_9() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let dir: PathBuf = dir.path().join("store");
    let writers = [1, 1, 1, 1, 1, 8];
    let mut acks: Vec<Ack> = Vec::new();
    let mut rng = rand::rng();
    for (round, &n) in writers.iter().enumerate() {
        let target = rng.random_range(1000..3000);
        let got = crash_round(&dir, round, n, target);
        assert!(got.iter().all(|a| a.round == round));
        acks.extend(got);
        // A runtime per round: dropping it ends the watches holding the store open.
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let after = runtime.block_on(check_after_crash(&dir, &acks, &writers[..=round], round));
        acks.push(after);
        drop(runtime);
    }
}
