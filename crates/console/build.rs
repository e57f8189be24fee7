//! Embeds the console's built pages (`web/dist`, made by `npm run build` in `web/`; another
//! directory with `TKE_CONSOLE_DIST`) into the crate, each file with a gzip copy made here once,
//! so serving costs no compression. Without a built console the crate still builds and its
//! pages say how to build it.

use std::{
    env,
    fmt::Write as _,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=TKE_CONSOLE_DIST");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist = env::var_os("TKE_CONSOLE_DIST").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../web/dist"));
    // A missing path would make cargo run this on every build: until the console is built,
    // watch the folder it will appear in.
    let watched = if dist.exists() { dist.clone() } else { dist.parent().map(Path::to_path_buf).unwrap_or_default() };
    if watched.exists() {
        println!("cargo:rerun-if-changed={}", watched.display());
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut list = vec![];
    files(&dist, &mut list);
    list.sort();
    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (i, path) in list.iter().enumerate() {
        let rel = path.strip_prefix(&dist).expect("under dist").to_string_lossy().replace('\\', "/");
        let body = fs::read(path).expect("reading a built console file");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&body).expect("compressing in memory");
        let gz = gz.finish().expect("compressing in memory");
        // Worth sending compressed only when it saves something (images are compressed already).
        let gz_path = out_dir.join(format!("asset-{i}.gz"));
        fs::write(&gz_path, &gz).expect("writing into OUT_DIR");
        let digest = {
            // FNV-1a: a cheap, stable ETag; collisions only cost a re-download.
            let mut h: u64 = 0xcbf29ce484222325;
            for b in &body {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x100000001b3);
            }
            h
        };
        let use_gz = gz.len() + 64 < body.len();
        writeln!(
            code,
            "    Asset {{ path: {:?}, body: include_bytes!({:?}), gzip: {}, etag: \"\\\"{digest:016x}\\\"\" }},",
            format!("/{rel}"),
            path.canonicalize().expect("canonical path"),
            if use_gz { format!("Some(include_bytes!({:?}))", gz_path) } else { "None".into() },
        )
        .expect("writing to a string");
    }
    code.push_str("];\n");
    fs::write(out_dir.join("assets.rs"), code).expect("writing into OUT_DIR");
}
