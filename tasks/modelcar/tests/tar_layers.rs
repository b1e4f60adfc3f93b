//! Layers read back by GNU tar: names, modes, owners, mtimes, links, long paths, huge sizes, and
//! contents byte for byte; digests stable across buffer sizes and compressions.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use common::progress::Meter;
use modelcar::plan::{PlanOptions, plan_layers};
use modelcar::scan::scan_model_dir;
use modelcar::tar::{HeaderKind, encode_header, padding};
use modelcar::{Compression, TarLayer};
use oci::LocalBlob;

fn gnu_tar(args: &[&str]) -> String {
    let output = Command::new("tar")
        .args(args)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .expect("GNU tar is needed: apt-get install -y tar");
    assert!(
        output.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn sample_model(dir: &Path) -> String {
    let long_dir = format!("deep/{}", "nested-directory-name/".repeat(6));
    fs::create_dir_all(dir.join(&long_dir)).unwrap();
    fs::create_dir_all(dir.join("1")).unwrap();
    fs::create_dir_all(dir.join("empty")).unwrap();
    fs::write(dir.join("1/model.onnx"), vec![42u8; 1000]).unwrap();
    fs::write(dir.join(format!("{long_dir}weights.bin")), b"long path").unwrap();
    fs::write(dir.join("run.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(dir.join("private.pkl"), b"pickle").unwrap();
    fs::set_permissions(dir.join("private.pkl"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(dir.join("zero"), b"").unwrap();
    symlink("1/model.onnx", dir.join("latest.onnx")).unwrap();
    format!("{long_dir}weights.bin")
}

fn single_layer(dir: &Path, mtime: u64, compression: Compression) -> TarLayer {
    let files = scan_model_dir(dir).unwrap();
    let plan = plan_layers(&files, &PlanOptions::new(None, 0).unwrap()).unwrap();
    assert_eq!(plan.len(), 1);
    TarLayer::new(dir.to_owned(), &plan[0], mtime, compression)
}

#[test]
fn gnu_tar_reads_names_modes_owners_mtime_and_contents() {
    let model = tempfile::tempdir().unwrap();
    let long = sample_model(model.path());
    let layer = single_layer(model.path(), 1_700_000_000, Compression::None);
    let mut bytes = Vec::new();
    layer.open().unwrap().read_to_end(&mut bytes).unwrap();
    let expected = plan_layers(
        &scan_model_dir(model.path()).unwrap(),
        &PlanOptions::new(None, 0).unwrap(),
    )
    .unwrap()[0]
        .tar_size(1_700_000_000)
        .unwrap();
    assert_eq!(bytes.len() as u64, expected, "planned size matches stream");

    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("layer.tar");
    fs::write(&archive, &bytes).unwrap();
    let listing = gnu_tar(&["--numeric-owner", "-tvf", archive.to_str().unwrap()]);
    let lines: Vec<&str> = listing.lines().collect();
    let line = |suffix: &str| {
        *lines
            .iter()
            .find(|l| l.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not in\n{listing}"))
    };
    assert!(
        lines[0].starts_with("drwxr-xr-x 0/0") && lines[0].ends_with(" models/"),
        "{listing}"
    );
    let onnx = line(" models/1/model.onnx");
    assert!(
        onnx.starts_with("-rw-r--r-- 0/0") && onnx.contains(" 1000 2023-11-14 22:13 "),
        "{onnx}"
    );
    assert!(line(" models/run.sh").starts_with("-rwxr-xr-x 0/0"));
    assert!(line(" models/private.pkl").starts_with("-rw-r--r-- 0/0"));
    assert!(line(" models/latest.onnx -> 1/model.onnx").starts_with("lrwxrwxrwx 0/0"));
    assert!(line(" models/empty/").starts_with("drwxr-xr-x 0/0"));
    line(&format!(" models/{long}"));
    assert!(
        !listing.contains("PaxHeaders"),
        "PAX headers read as such:\n{listing}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains(" ./") && !l.contains(" /"))
    );

    let out = work.path().join("out");
    fs::create_dir(&out).unwrap();
    gnu_tar(&[
        "-xf",
        archive.to_str().unwrap(),
        "-C",
        out.to_str().unwrap(),
    ]);
    for rel in [
        "1/model.onnx",
        long.as_str(),
        "run.sh",
        "private.pkl",
        "zero",
    ] {
        assert_eq!(
            fs::read(model.path().join(rel)).unwrap(),
            fs::read(out.join("models").join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert_eq!(
        fs::read_link(out.join("models/latest.onnx")).unwrap(),
        Path::new("1/model.onnx")
    );
}

#[test]
fn sizes_over_8_gib_use_a_pax_size_record() {
    // A sparse archive: the header, a hole standing for 9 GiB of content, padding, end blocks.
    let size: u64 = 9 << 30;
    let header = encode_header(
        "models/big.safetensors",
        &HeaderKind::File {
            size,
            executable: false,
        },
        0,
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("big.tar");
    let mut file = fs::File::create(&archive).unwrap();
    file.write_all(&header).unwrap();
    let end = header.len() as u64 + size + padding(size) + 1024;
    file.set_len(end).unwrap();
    drop(file);
    let listing = gnu_tar(&["--numeric-owner", "-tvf", archive.to_str().unwrap()]);
    assert!(
        listing.contains(&format!(" {size} ")) && listing.contains("models/big.safetensors"),
        "{listing}"
    );
}

fn digest_with_buffer(layer: &TarLayer, buffer: usize) -> oci::Digest {
    let mut reader = oci::HashingReader::new(layer.open().unwrap());
    let mut buf = vec![0u8; buffer];
    while reader.read(&mut buf).unwrap() > 0 {}
    reader.finish().0
}

#[test]
fn compressed_layers_are_deterministic_and_measured_in_one_pass() {
    let model = tempfile::tempdir().unwrap();
    sample_model(model.path());
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let layer = single_layer(model.path(), 0, compression);
        let measured = modelcar::hash::measure_layer(&layer, &Meter::default()).unwrap();
        assert_eq!(
            measured.digest,
            digest_with_buffer(&layer, 7),
            "{compression:?}"
        );
        assert_eq!(
            measured.digest,
            digest_with_buffer(&layer, 1 << 20),
            "{compression:?}"
        );
        let plain = single_layer(model.path(), 0, Compression::None);
        assert_eq!(
            measured.diff_id,
            digest_with_buffer(&plain, 4096),
            "{compression:?}"
        );
        if compression != Compression::None {
            assert_ne!(measured.digest, measured.diff_id);
        }
    }
}

#[test]
fn a_file_changed_during_the_build_is_an_error() {
    let model = tempfile::tempdir().unwrap();
    sample_model(model.path());
    let layer = single_layer(model.path(), 0, Compression::None);
    fs::write(model.path().join("1/model.onnx"), vec![1u8; 1001]).unwrap();
    let err = modelcar::hash::measure_layer(&layer, &Meter::default()).unwrap_err();
    assert!(err.to_string().contains("changed size"), "{err}");
}
