//! The etcd backend against a real etcd: compare-and-swap writes, ranges at revisions, watches
//! with previous values and progress, compaction, TLS with client certificates, the compactor,
//! and connection failures.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt;
use storage::{
    Event, Store, StoreError, WatchBatch,
    etcd::{EtcdStore, EtcdTls},
    prefix_end,
};
use testkit::etcd::{Etcd, EtcdServerTls};

const DEADLINE: Duration = Duration::from_secs(20);

async fn store(etcd: &Etcd) -> EtcdStore {
    EtcdStore::connect(&etcd.endpoints(), EtcdTls::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nlog:\n{}", etcd.log()))
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// The next batch from a watch, failing the test after a deadline.
async fn next(watch: &mut storage::Watch) -> Result<WatchBatch, StoreError> {
    tokio::time::timeout(DEADLINE, watch.stream.next())
        .await
        .expect("watch batch within deadline")
        .expect("watch stream still open")
}

/// The next batch that carries events (skipping progress notifications).
async fn next_events(watch: &mut storage::Watch) -> Vec<Event> {
    loop {
        let batch = next(watch).await.expect("watch batch");
        if !batch.events.is_empty() {
            return batch.events;
        }
    }
}

#[tokio::test]
async fn writes_are_compare_and_swap_with_one_revision_each() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    let (rev0, _) = s.revisions().await.unwrap();

    let a = s.create("/r/a", b("1")).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (rev0 + 1, rev0 + 1, 1));
    assert!(matches!(s.create("/r/a", b("x")).await, Err(StoreError::AlreadyExists { key }) if key == "/r/a"));

    let (got, rev) = s.get("/r/a").await.unwrap();
    assert_eq!(got.as_ref(), Some(&a));
    assert_eq!(rev, rev0 + 1);

    let a2 = s.update("/r/a", b("2"), a.mod_revision).await.unwrap();
    assert_eq!(
        (a2.create_revision, a2.mod_revision, a2.version, a2.value.clone()),
        (a.create_revision, rev0 + 2, 2, b("2"))
    );
    match s.update("/r/a", b("3"), a.mod_revision).await {
        Err(StoreError::Conflict { key, expected, current: Some(current) }) => {
            assert_eq!((key.as_str(), expected), ("/r/a", a.mod_revision));
            assert_eq!(current, a2);
        }
        other => panic!("stale update: {other:?}"),
    }
    assert!(matches!(s.update("/r/missing", b("3"), 0).await, Err(StoreError::NotFound { .. })));
    assert!(s.get("/r/missing").await.unwrap().0.is_none(), "an update with expected 0 must not create the key");

    match s.delete("/r/a", Some(a.mod_revision)).await {
        Err(StoreError::Conflict { current: Some(current), .. }) => assert_eq!(current, a2),
        other => panic!("stale delete: {other:?}"),
    }
    let (deleted, at) = s.delete("/r/a", Some(a2.mod_revision)).await.unwrap();
    assert_eq!((deleted, at), (a2.clone(), rev0 + 3));
    assert!(matches!(s.delete("/r/a", None).await, Err(StoreError::NotFound { .. })));
    assert!(matches!(s.delete("/r/a", Some(at)).await, Err(StoreError::NotFound { .. })));

    // Created again: a new create_revision and version 1.
    let again = s.create("/r/a", b("4")).await.unwrap();
    assert_eq!((again.create_revision, again.version), (rev0 + 4, 1));
    let (deleted, at) = s.delete("/r/a", None).await.unwrap();
    assert_eq!((deleted.value, at), (b("4"), rev0 + 5));
    assert_eq!(s.revisions().await.unwrap().0, rev0 + 5, "failed writes and reads do not change the revision");
}

#[tokio::test]
async fn ranges_page_at_a_revision() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    for i in 0..5 {
        s.create(&format!("/p/k{i}"), b(&i.to_string())).await.unwrap();
    }
    s.create("/q/other", b("x")).await.unwrap();
    let end = prefix_end("/p/");

    let first = s.range("/p/", &end, 2, 0).await.unwrap();
    assert_eq!(first.kvs.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), ["/p/k0", "/p/k1"]);
    assert!(first.more);
    assert_eq!(first.remaining, 3);
    let at = first.revision;

    // Writes after the first page do not show in a continuation at the same revision.
    s.create("/p/k5", b("5")).await.unwrap();
    let k0 = s.get("/p/k0").await.unwrap().0.unwrap();
    s.delete("/p/k0", None).await.unwrap();
    let rest = s.range("/p/k1\0", &end, 0, at).await.unwrap();
    assert_eq!(rest.kvs.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), ["/p/k2", "/p/k3", "/p/k4"]);
    assert!(!rest.more);
    assert_eq!((rest.remaining, rest.revision), (0, at));
    let old = s.range("/p/", &end, 0, at).await.unwrap();
    assert_eq!(old.kvs[0], k0, "the deleted key is still there at the old revision");

    let now = s.range("/p/", &end, 0, 0).await.unwrap();
    assert_eq!(now.kvs.len(), 5);
    assert_eq!(now.revision, s.revisions().await.unwrap().0);

    // The whole key space.
    let all = s.range("", &prefix_end(""), 0, 0).await.unwrap();
    assert_eq!(all.kvs.len(), 6);
    // An empty range holds nothing.
    assert!(s.range("/p/k3", "/p/k3", 0, 0).await.unwrap().kvs.is_empty());

    match s.range("/p/", &end, 0, now.revision + 100).await {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!((requested, current), (now.revision + 100, now.revision))
        }
        other => panic!("future range: {other:?}"),
    }
}

#[tokio::test]
async fn watches_deliver_puts_and_deletes_with_previous_values() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    s.create("/w/before", b("0")).await.unwrap();
    let (start, _) = s.revisions().await.unwrap();
    let mut w = s.watch("/w/", 0).await.unwrap();

    let a = s.create("/w/a", b("1")).await.unwrap();
    s.create("/x/outside", b("x")).await.unwrap();
    let a2 = s.update("/w/a", b("2"), a.mod_revision).await.unwrap();
    let (_, del) = s.delete("/w/a", None).await.unwrap();

    let mut events = Vec::new();
    while events.len() < 3 {
        events.extend(next_events(&mut w).await);
    }
    assert_eq!(events[0], Event::Put { kv: a.clone(), prev: None });
    assert_eq!(events[1], Event::Put { kv: a2.clone(), prev: Some(a.clone()) });
    assert_eq!(events[2], Event::Delete { prev: a2.clone(), revision: del });
    assert!(events[0].revision() > start);

    // A progress request answers with an empty batch at (at least) the latest revision.
    w.progress.request_progress();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let batch = next(&mut w).await.unwrap();
        assert!(batch.events.is_empty(), "no more events: {:?}", batch.events);
        if batch.revision >= del {
            break;
        }
        assert!(Instant::now() < deadline, "no progress notification at {del}");
    }

    // Replaying from an old revision delivers the same history, in order.
    let mut replay = s.watch("/w/", events[0].revision()).await.unwrap();
    let mut again = Vec::new();
    while again.len() < 3 {
        again.extend(next_events(&mut replay).await);
    }
    assert_eq!(again, events);
}

#[tokio::test]
async fn compaction_makes_old_revisions_gone() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    let a = s.create("/c/a", b("1")).await.unwrap();
    let a2 = s.update("/c/a", b("2"), a.mod_revision).await.unwrap();
    let a3 = s.update("/c/a", b("3"), a2.mod_revision).await.unwrap();
    let (_, compacted0) = s.revisions().await.unwrap();
    assert!(compacted0 <= a.mod_revision);

    s.compact(a3.mod_revision).await.unwrap();
    assert_eq!(s.revisions().await.unwrap(), (a3.mod_revision, a3.mod_revision));
    // Compacting again (or lower) is harmless.
    s.compact(a2.mod_revision).await.unwrap();

    match s.range("/c/", &prefix_end("/c/"), 0, a.mod_revision).await {
        Err(StoreError::Compacted { requested, compacted }) => {
            assert_eq!((requested, compacted), (a.mod_revision, a3.mod_revision))
        }
        other => panic!("range at a compacted revision: {other:?}"),
    }
    match s.watch("/c/", a2.mod_revision).await {
        Err(StoreError::Compacted { requested, compacted }) => {
            assert_eq!((requested, compacted), (a2.mod_revision, a3.mod_revision))
        }
        Ok(_) => panic!("watch at a compacted revision started"),
        Err(e) => panic!("watch at a compacted revision: {e}"),
    }
    // The compacted revision itself is still readable and watchable.
    assert_eq!(s.range("/c/", &prefix_end("/c/"), 0, a3.mod_revision).await.unwrap().kvs, vec![a3.clone()]);
    // etcd cannot give the previous value there: it lies below the compacted revision.
    let mut w = s.watch("/c/", a3.mod_revision).await.unwrap();
    assert_eq!(next_events(&mut w).await, vec![Event::Put { kv: a3.clone(), prev: None }]);

    // Another client's compaction is discovered too.
    let other = store(&etcd).await;
    let a4 = s.update("/c/a", b("4"), a3.mod_revision).await.unwrap();
    s.update("/c/a", b("5"), a4.mod_revision).await.unwrap();
    other.compact(a4.mod_revision).await.unwrap();
    assert_eq!(s.revisions().await.unwrap().1, a4.mod_revision);
}

#[tokio::test]
async fn a_running_watch_ends_with_compacted_when_it_falls_behind() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    let a = s.create("/l/a", b("1")).await.unwrap();
    let mut rev = a.mod_revision;
    for i in 0..5 {
        rev = s.update("/l/a", b(&i.to_string()), rev).await.unwrap().mod_revision;
    }
    // Start a watch at an old revision, then compact past it before reading anything: etcd
    // either delivered the history already or cancels the watch as compacted.
    let mut w = s.watch("/l/", a.mod_revision).await.unwrap();
    s.compact(rev).await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    let mut seen = 0;
    loop {
        match next(&mut w).await {
            Ok(batch) => seen += batch.events.len(),
            Err(StoreError::Compacted { compacted, .. }) => {
                assert_eq!(compacted, rev);
                break;
            }
            Err(e) => panic!("unexpected watch error: {e}"),
        }
        if seen == 6 {
            break; // etcd sent everything before the compaction reached the watch.
        }
        assert!(Instant::now() < deadline);
    }
}

#[tokio::test]
async fn compactor_keeps_one_interval_of_history() {
    let etcd = Etcd::start();
    let s: Arc<dyn Store> = Arc::new(store(&etcd).await);
    let first = s.create("/k/a", b("1")).await.unwrap();
    storage::spawn_compactor(s.clone(), Duration::from_millis(200));
    let deadline = Instant::now() + DEADLINE;
    let mut rev = first.mod_revision;
    loop {
        rev = s.update("/k/a", b("x"), rev).await.unwrap().mod_revision;
        let (_, compacted) = s.revisions().await.unwrap();
        if compacted > first.mod_revision {
            assert!(compacted < rev, "the compactor never compacts to the current revision");
            break;
        }
        assert!(Instant::now() < deadline, "the compactor did not compact");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn unreachable_etcd_is_unavailable() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    match EtcdStore::connect(&[format!("http://127.0.0.1:{port}")], EtcdTls::default()).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(msg.contains(&port.to_string()), "message names the endpoint: {msg}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));

    // A store whose etcd goes away reports Unavailable rather than hanging.
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    let mut w = s.watch("/u/", 0).await.unwrap();
    s.create("/u/a", b("1")).await.unwrap();
    assert_eq!(next_events(&mut w).await.len(), 1);
    drop(etcd);
    match s.get("/u/a").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("get from a stopped etcd: {other:?}"),
    }
    // The watch ends with an error instead of silently stalling.
    loop {
        match next(&mut w).await {
            Ok(batch) => assert!(batch.events.is_empty(), "no events after the stop"),
            Err(StoreError::Unavailable(_)) => break,
            Err(e) => panic!("watch on a stopped etcd: {e}"),
        }
    }
    assert!(
        tokio::time::timeout(DEADLINE, w.stream.next()).await.expect("stream ends").is_none(),
        "the stream ends after the error"
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, written to `dir`.
fn write_certs(dir: &std::path::Path) -> (EtcdServerTls, EtcdTls) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, "test etcd CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) =
        leaf("etcd", vec!["127.0.0.1".into(), "localhost".into()], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf("tke", vec![], ExtendedKeyUsagePurpose::ClientAuth);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca = write("ca.crt", &ca_cert.pem());
    let server = EtcdServerTls {
        cert_file: write("server.crt", &server_cert),
        key_file: write("server.key", &server_key),
        client_ca_file: ca.clone(),
    };
    let client = EtcdTls {
        ca_file: Some(ca),
        cert_file: Some(write("client.crt", &client_cert)),
        key_file: Some(write("client.key", &client_key)),
    };
    (server, client)
}

#[tokio::test]
async fn connects_over_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = write_certs(dir.path());
    let etcd = Etcd::start_tls(server);
    assert!(etcd.endpoints()[0].starts_with("https://"));

    let s = EtcdStore::connect(&etcd.endpoints(), client.clone())
        .await
        .unwrap_or_else(|e| panic!("TLS connect: {e}\nlog:\n{}", etcd.log()));
    let a = s.create("/t/a", b("secret")).await.unwrap();
    assert_eq!(s.get("/t/a").await.unwrap().0, Some(a.clone()));
    let mut w = s.watch("/t/", a.mod_revision).await.unwrap();
    assert_eq!(next_events(&mut w).await, vec![Event::Put { kv: a, prev: None }]);

    // Without the client certificate etcd refuses the connection.
    let no_cert = EtcdTls { cert_file: None, key_file: None, ..client };
    assert!(matches!(EtcdStore::connect(&etcd.endpoints(), no_cert).await, Err(StoreError::Unavailable(_))));
}

#[tokio::test]
async fn progress_never_overtakes_events() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    let mut w = s.watch("/g/", 0).await.unwrap();
    let writer = {
        let s = s.clone();
        let progress = w.progress.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                s.create(&format!("/g/{i}"), b("v")).await.unwrap();
                progress.request_progress();
            }
            s.revisions().await.unwrap().0
        })
    };
    let mut last_event = 0;
    let mut events = 0;
    let mut bad = 0;
    while events < 300 {
        let batch = next(&mut w).await.unwrap();
        if batch.events.is_empty() {
            if batch.revision > last_event {
                bad += 1;
            }
        } else {
            events += batch.events.len();
            last_event = batch.revision;
        }
    }
    writer.await.unwrap();
    assert_eq!(bad, 0, "progress notifications ahead of undelivered events");
}

#[tokio::test]
async fn progress_waits_for_a_replay() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    let first = s.create("/h/first", b("v")).await.unwrap();
    for i in 0..1500 {
        s.create(&format!("/h/{i}"), b("v")).await.unwrap();
    }
    let (current, _) = s.revisions().await.unwrap();
    let mut w = s.watch("/h/", first.mod_revision).await.unwrap();
    w.progress.request_progress();
    let mut last_event = 0;
    while last_event < current {
        let batch = next(&mut w).await.unwrap();
        if batch.events.is_empty() {
            assert!(
                batch.revision <= last_event,
                "progress at {} while events after {last_event} are undelivered",
                batch.revision
            );
        } else {
            last_event = batch.revision;
        }
    }
}

#[tokio::test]
async fn progress_answers_a_quiet_watch_started_in_the_past() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    let start = s.create("/busy/0", b("v")).await.unwrap().mod_revision;
    for i in 1..50 {
        s.create(&format!("/busy/{i}"), b("v")).await.unwrap();
    }
    let (current, _) = s.revisions().await.unwrap();
    // Nothing under /quiet/ changed since `start`: only the progress notification can say so.
    let mut w = s.watch("/quiet/", start).await.unwrap();
    w.progress.request_progress();
    let batch = next(&mut w).await.unwrap();
    assert!(batch.events.is_empty());
    assert!(batch.revision >= current, "progress at {} below the current revision {current}", batch.revision);
    // Later writes under the prefix still arrive.
    let q = s.create("/quiet/a", b("v")).await.unwrap();
    assert_eq!(next_events(&mut w).await, vec![Event::Put { kv: q, prev: None }]);
}

#[tokio::test]
async fn large_lists_and_replays_exceed_grpc_default_message_size() {
    let etcd = Etcd::start();
    let s = store(&etcd).await;
    // 12 values of 512 KiB: 6 MiB in one list, more in one replay batch (with previous values).
    let value = Bytes::from(vec![b'x'; 512 * 1024]);
    let first = s.create("/big/0", value.clone()).await.unwrap();
    for i in 1..12 {
        s.create(&format!("/big/{i}"), value.clone()).await.unwrap();
    }
    let all = s.range("/big/", &prefix_end("/big/"), 0, 0).await.unwrap();
    assert_eq!(all.kvs.len(), 12);
    let mut w = s.watch("/big/", first.mod_revision).await.unwrap();
    let mut n = 0;
    while n < 12 {
        n += next_events(&mut w).await.len();
    }
}
