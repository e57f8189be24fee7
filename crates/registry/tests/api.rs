//! OCI distribution behaviour over HTTP with reqwest: uploads, manifests, tags, catalog,
//! referrers, errors and token auth.

mod common;

use common::*;
use serde_json::json;

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

#[tokio::test]
async fn blobs_ranges_mount_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(dir.path(), false).await;
    let (c, base) = (client(), reg.base.as_str());

    let r = c.get(format!("{base}/v2/")).send().await.expect("base");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-distribution-api-version"], "registry/2.0");

    let data = pseudo_random(300_000, 1);
    let d = push_blob(&c, base, "t1/ns/app", &data).await;
    let r = c.head(format!("{base}/v2/t1/ns/app/blobs/{d}")).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "300000");
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let got = c.get(format!("{base}/v2/t1/ns/app/blobs/{d}")).send().await.expect("get").bytes().await.expect("body");
    assert_eq!(got.as_ref(), &data[..]);

    let r =
        c.get(format!("{base}/v2/t1/ns/app/blobs/{d}")).header("range", "bytes=1000-1999").send().await.expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 1000-1999/300000");
    assert_eq!(r.bytes().await.expect("body").as_ref(), &data[1000..2000]);
    let r =
        c.get(format!("{base}/v2/t1/ns/app/blobs/{d}")).header("range", "bytes=400000-").send().await.expect("range");
    assert_eq!(r.status(), 416);

    // Not linked into another repository until mounted.
    let r = c.head(format!("{base}/v2/other/app/blobs/{d}")).send().await.expect("head");
    assert_eq!(r.status(), 404);
    let r = c.post(format!("{base}/v2/other/app/blobs/uploads/?mount={d}&from=t1/ns/app")).send().await.expect("mount");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], format!("/v2/other/app/blobs/{d}").as_str());
    let r = c.head(format!("{base}/v2/other/app/blobs/{d}")).send().await.expect("head");
    assert_eq!(r.status(), 200);
    // A mount of an unknown blob falls back to an upload session.
    let missing = sha256(b"nope");
    let r = c
        .post(format!("{base}/v2/other/app/blobs/uploads/?mount={missing}&from=t1/ns/app"))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), 202);

    let r = c.delete(format!("{base}/v2/other/app/blobs/{d}")).send().await.expect("delete");
    assert_eq!(r.status(), 202);
    let r = c.get(format!("{base}/v2/other/app/blobs/{d}")).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = c.get(format!("{base}/v2/t1/ns/app/blobs/{d}")).send().await.expect("get");
    assert_eq!(r.status(), 200, "the other repository keeps its link");

    let r = c.get(format!("{base}/v2/Bad/blobs/{d}")).send().await.expect("bad name");
    assert_eq!(error_code(r).await, "NAME_INVALID");
}

#[tokio::test]
async fn chunked_upload_survives_interruption_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = pseudo_random(3 * 1024 * 1024 + 17, 7);
    let d = sha256(&data);
    let c = client();

    let reg = start(dir.path(), false).await;
    let base = reg.base.clone();
    let r = c.post(format!("{base}/v2/t1/big/blobs/uploads/")).send().await.expect("start");
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let uuid = r.headers()["docker-upload-uuid"].to_str().expect("uuid").to_string();
    assert!(location.ends_with(&uuid));

    // First chunk completes.
    let first = 1024 * 1024;
    let r = c
        .patch(format!("{base}{location}"))
        .header("content-range", format!("0-{}", first - 1))
        .body(data[..first].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], format!("0-{}", first - 1).as_str());

    // A chunk starting at the wrong offset is refused with the current range.
    let r = c
        .patch(format!("{base}{location}"))
        .header("content-range", "5-9")
        .body(vec![0u8; 5])
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["range"], format!("0-{}", first - 1).as_str());

    // Second chunk: the connection breaks after 512 KiB have been sent.
    let sent: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(data[first..first + 512 * 1024].to_vec()), Err(std::io::Error::other("network cut"))];
    let broken =
        c.patch(format!("{base}{location}")).body(reqwest::Body::wrap_stream(futures::stream::iter(sent))).send().await;
    assert!(broken.is_err(), "the interrupted request fails on the client side");

    // Restart the registry on the same directory: the session is still there. The old server
    // finishes what it received of the broken request first, as a stopped process would have.
    reg.server.stop().await;
    let reg = start(dir.path(), false).await;
    let base = reg.base.clone();
    let r = c.get(format!("{base}{location}")).send().await.expect("status");
    assert_eq!(r.status(), 204);
    let range = r.headers()["range"].to_str().expect("range").to_string();
    let end: usize = range.split_once('-').expect("range form").1.parse().expect("range end");
    let offset = end + 1;
    assert!(offset >= first && offset <= first + 512 * 1024, "kept {offset} bytes");

    // Resume from where the server is, finish with the rest in the PUT.
    let mid = 2 * 1024 * 1024;
    let r = c
        .patch(format!("{base}{location}"))
        .header("content-range", format!("{offset}-{}", mid - 1))
        .body(data[offset..mid].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    let r = c.put(format!("{base}{location}?digest={d}")).body(data[mid..].to_vec()).send().await.expect("put");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let got = c.get(format!("{base}/v2/t1/big/blobs/{d}")).send().await.expect("get").bytes().await.expect("body");
    assert!(got.as_ref() == &data[..], "blob content matches");
    // The session is gone.
    let r = c.get(format!("{base}{location}")).send().await.expect("status");
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

fn blob_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn digest_mismatch_is_rejected_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(dir.path(), false).await;
    let (c, base) = (client(), reg.base.as_str());
    let data = pseudo_random(100_000, 3);
    let wrong = sha256(b"something else");

    let r = c
        .post(format!("{base}/v2/t1/app/blobs/uploads/?digest={wrong}"))
        .body(data.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    let r = c.post(format!("{base}/v2/t1/app/blobs/uploads/")).send().await.expect("start");
    let location = r.headers()["location"].to_str().expect("location").to_string();
    c.patch(format!("{base}{location}")).body(data.clone()).send().await.expect("patch");
    let r = c.put(format!("{base}{location}?digest={wrong}")).send().await.expect("put");
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    for d in [wrong.clone(), sha256(&data)] {
        let r = c.head(format!("{base}/v2/t1/app/blobs/{d}")).send().await.expect("head");
        assert_eq!(r.status(), 404);
    }
    assert!(blob_files(dir.path()).is_empty(), "no blob file: {:?}", blob_files(dir.path()));
    let uploads: Vec<_> = std::fs::read_dir(dir.path().join("uploads")).into_iter().flatten().collect();
    assert!(uploads.is_empty(), "upload sessions discarded");

    let r = c.post(format!("{base}/v2/t1/app/blobs/uploads/?digest=sha256:xyz")).body("x").send().await.expect("post");
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn concurrent_pushes_of_the_same_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(dir.path(), false).await;
    let c = client();
    let data = pseudo_random(2 * 1024 * 1024, 11);
    let pushes = (0..8).map(|i| {
        let (c, base, data) = (c.clone(), reg.base.clone(), data.clone());
        tokio::spawn(async move { push_blob(&c, &base, &format!("team/app{}", i % 3), &data).await })
    });
    let digests = futures::future::join_all(pushes).await;
    let d = sha256(&data);
    for r in digests {
        assert_eq!(r.expect("task"), d);
    }
    assert_eq!(blob_files(dir.path()).len(), 1);
    let got =
        c.get(format!("{}/v2/team/app1/blobs/{d}", reg.base)).send().await.expect("get").bytes().await.expect("body");
    assert!(got.as_ref() == &data[..]);
}

#[tokio::test]
async fn manifests_tags_catalog_and_referrers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(dir.path(), false).await;
    let (c, base) = (client(), reg.base.as_str());
    let repo = "t1/ns/app";

    let (manifest, md) = push_image(&c, base, repo, "v1", 1).await;
    for reference in ["v1", md.as_str()] {
        let r = c.get(format!("{base}/v2/{repo}/manifests/{reference}")).send().await.expect("get");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(r.headers()["docker-content-digest"], md.as_str());
        assert_eq!(r.bytes().await.expect("body").as_ref(), &manifest[..]);
    }
    let r = c.head(format!("{base}/v2/{repo}/manifests/v1")).send().await.expect("head");
    assert_eq!(r.headers()["content-length"], manifest.len().to_string().as_str());
    let r = c.get(format!("{base}/v2/{repo}/manifests/nope")).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    // A manifest whose layer was never pushed.
    let bad = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":sha256(b"{}"),"size":2},"layers":[]});
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/bad"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(bad.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    // A manifest pushed by a digest that is not its own.
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/{}", sha256(b"x")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    // Docker v2 schema 2 media type round-trips too.
    let docker = String::from_utf8(manifest.clone())
        .expect("utf8")
        .replace("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json");
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/docker"))
        .header("content-type", "application/vnd.docker.distribution.manifest.v2+json")
        .body(docker.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    let r = c.get(format!("{base}/v2/{repo}/manifests/docker")).send().await.expect("get");
    assert_eq!(r.headers()["content-type"], "application/vnd.docker.distribution.manifest.v2+json");

    // Tags with pagination.
    for t in ["v2", "v3", "v4"] {
        let r = c
            .put(format!("{base}/v2/{repo}/manifests/{t}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 201);
    }
    let r = c.get(format!("{base}/v2/{repo}/tags/list?n=2")).send().await.expect("tags");
    assert_eq!(r.headers()["link"], format!("</v2/{repo}/tags/list?n=2&last=v1>; rel=\"next\"").as_str());
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v, json!({"name": repo, "tags": ["docker", "v1"]}));
    let v: serde_json::Value = c
        .get(format!("{base}/v2/{repo}/tags/list?n=10&last=v1"))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    assert_eq!(v["tags"], json!(["v2", "v3", "v4"]));
    let r = c.get(format!("{base}/v2/nobody/tags/list")).send().await.expect("tags");
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");

    push_image(&c, base, "library/busybox", "latest", 2).await;
    let v: serde_json::Value =
        c.get(format!("{base}/v2/_catalog")).send().await.expect("catalog").json().await.expect("json");
    assert_eq!(v["repositories"], json!(["library/busybox", repo]));
    let r = c.get(format!("{base}/v2/_catalog?n=1")).send().await.expect("catalog");
    assert!(r.headers().contains_key("link"));

    // Referrers: an SBOM-like artifact pointing at the image.
    let empty = push_blob(&c, base, repo, b"{}").await;
    let sbom = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "artifactType":"application/spdx+json",
        "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":empty,"size":2},
        "layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":empty,"size":2}],
        "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":md,"size":manifest.len()},
        "annotations":{"org.example":"sbom"}})
    .to_string();
    let sd = sha256(sbom.as_bytes());
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/{sd}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(sbom.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["oci-subject"], md.as_str());
    let r = c.get(format!("{base}/v2/{repo}/referrers/{md}")).send().await.expect("referrers");
    assert_eq!(r.headers()["content-type"], "application/vnd.oci.image.index.v1+json");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["manifests"][0]["digest"], sd.as_str());
    assert_eq!(v["manifests"][0]["artifactType"], "application/spdx+json");
    assert_eq!(v["manifests"][0]["annotations"]["org.example"], "sbom");
    let r = c
        .get(format!("{base}/v2/{repo}/referrers/{md}?artifactType=application/other"))
        .send()
        .await
        .expect("referrers");
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["manifests"], json!([]));

    // Deleting a tag keeps the manifest; deleting the manifest drops its tags and referrer entry.
    let r = c.delete(format!("{base}/v2/{repo}/manifests/v4")).send().await.expect("delete tag");
    assert_eq!(r.status(), 202);
    assert_eq!(c.get(format!("{base}/v2/{repo}/manifests/v4")).send().await.expect("get").status(), 404);
    assert_eq!(c.get(format!("{base}/v2/{repo}/manifests/{md}")).send().await.expect("get").status(), 200);
    let r = c.delete(format!("{base}/v2/{repo}/manifests/{sd}")).send().await.expect("delete");
    assert_eq!(r.status(), 202);
    let v: serde_json::Value =
        c.get(format!("{base}/v2/{repo}/referrers/{md}")).send().await.expect("referrers").json().await.expect("json");
    assert_eq!(v["manifests"], json!([]));
    let r = c.delete(format!("{base}/v2/{repo}/manifests/{md}")).send().await.expect("delete");
    assert_eq!(r.status(), 202);
    let v: serde_json::Value =
        c.get(format!("{base}/v2/{repo}/tags/list")).send().await.expect("tags").json().await.expect("json");
    assert_eq!(v["tags"], json!(["docker"]), "tags of the deleted manifest are gone (docker has its own digest)");
}

async fn token(c: &reqwest::Client, base: &str, scope: &str, creds: Option<(&str, &str)>) -> reqwest::Response {
    let mut req = c.get(format!("{base}/registry/auth")).query(&[("service", "tke"), ("scope", scope)]);
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.expect("token request")
}

#[tokio::test]
async fn token_auth_the_docker_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(dir.path(), true).await;
    let (c, base) = (client(), reg.base.as_str());

    let r = c.get(format!("{base}/v2/")).send().await.expect("base");
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().expect("header").to_string();
    assert_eq!(challenge, format!("Bearer realm=\"{base}/registry/auth\",service=\"tke\""));

    let r = c.post(format!("{base}/v2/t1/ns/app/blobs/uploads/")).send().await.expect("push");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"].to_str().expect("header").contains("scope=\"repository:t1/ns/app:pull,push\"")
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");

    // Wrong password: no token.
    let r = token(&c, base, "repository:t1/ns/app:pull,push", Some((ADMIN, "wrong"))).await;
    assert_eq!(r.status(), 401);

    let v: serde_json::Value =
        token(&c, base, "repository:t1/ns/app:pull,push", Some((ADMIN, PASSWORD))).await.json().await.expect("json");
    let admin = v["token"].as_str().expect("token").to_string();
    assert!(v["expires_in"].as_u64().is_some_and(|s| s > 0));
    let authed = reqwest::Client::builder()
        .default_headers(
            [(reqwest::header::AUTHORIZATION, format!("Bearer {admin}").parse().expect("header"))]
                .into_iter()
                .collect(),
        )
        .build()
        .expect("client");
    push_image(&authed, base, "t1/ns/app", "v1", 5).await;
    // The token is scoped: it does not cover another repository.
    let r = authed.get(format!("{base}/v2/t1/other/tags/list")).send().await.expect("tags");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().expect("header").contains("error=\"insufficient_scope\""));
    // A forged token is refused.
    let r =
        c.get(format!("{base}/v2/t1/ns/app/tags/list")).bearer_auth(format!("{admin}x")).send().await.expect("tags");
    assert_eq!(r.status(), 401);

    // Anonymous users get pull on public repositories only.
    let v: serde_json::Value = token(&c, base, "repository:t1/ns/app:pull", None).await.json().await.expect("json");
    let anon = v["token"].as_str().expect("token").to_string();
    let r = c.get(format!("{base}/v2/t1/ns/app/tags/list")).bearer_auth(&anon).send().await.expect("tags");
    assert_eq!(r.status(), 401);

    let admin_lib: serde_json::Value = token(&c, base, "repository:library/busybox:pull,push", Some((ADMIN, PASSWORD)))
        .await
        .json()
        .await
        .expect("json");
    let admin_lib = admin_lib["token"].as_str().expect("token").to_string();
    let authed_lib = reqwest::Client::builder()
        .default_headers(
            [(reqwest::header::AUTHORIZATION, format!("Bearer {admin_lib}").parse().expect("header"))]
                .into_iter()
                .collect(),
        )
        .build()
        .expect("client");
    push_image(&authed_lib, base, "library/busybox", "latest", 6).await;
    let v: serde_json::Value =
        token(&c, base, "repository:library/busybox:pull,push", None).await.json().await.expect("json");
    let anon = v["token"].as_str().expect("token").to_string();
    let r = c.get(format!("{base}/v2/library/busybox/manifests/latest")).bearer_auth(&anon).send().await.expect("pull");
    assert_eq!(r.status(), 200, "anonymous pull of a public repository");
    let r = c.post(format!("{base}/v2/library/busybox/blobs/uploads/")).bearer_auth(&anon).send().await.expect("push");
    assert_eq!(r.status(), 401, "but no anonymous push");

    // The catalog is for admins.
    let v: serde_json::Value =
        token(&c, base, "registry:catalog:*", Some((ADMIN, PASSWORD))).await.json().await.expect("json");
    let r = c
        .get(format!("{base}/v2/_catalog"))
        .bearer_auth(v["token"].as_str().expect("token"))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = token(&c, base, "registry:catalog:*", None).await.json().await.expect("json");
    let r = c
        .get(format!("{base}/v2/_catalog"))
        .bearer_auth(v["token"].as_str().expect("token"))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 401);
}
