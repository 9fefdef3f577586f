//! LoRA adapters: the trainable low-rank matrices, in llama.cpp's GGUF and in PEFT's
//! safetensors.
//!
//! An adapter adds `scale · B·A` to a weight `W` (`scale = alpha / rank`): `A` is
//! `rank × in`, `B` is `out × rank`. Both files store exactly these two matrices per
//! adapted weight, in the same orientation, so converting between them is renaming —
//! except for llama-architecture models, whose query and key rows llama.cpp's converter
//! permutes (rotary layout): there `B` of `q`/`k` is permuted the same way on the way in
//! and back on the way out, which needs the base model's head counts ([`Heads`]).
//!
//! Adapters are keyed by the base weight's GGUF name (`blk.3.attn_q.weight`): training
//! reads the base model from its GGUF file, and the engine loads adapters by those names.

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// A projection LoRA can adapt, by its PEFT module name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    QProj,
    KProj,
    VProj,
    OProj,
    GateProj,
    UpProj,
    DownProj,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::QProj,
        Target::KProj,
        Target::VProj,
        Target::OProj,
        Target::GateProj,
        Target::UpProj,
        Target::DownProj,
    ];

    /// The module name in Hugging Face models and PEFT files.
    pub fn peft_name(self) -> &'static str {
        match self {
            Target::QProj => "q_proj",
            Target::KProj => "k_proj",
            Target::VProj => "v_proj",
            Target::OProj => "o_proj",
            Target::GateProj => "gate_proj",
            Target::UpProj => "up_proj",
            Target::DownProj => "down_proj",
        }
    }

    /// The tensor name in GGUF files (`blk.N.<this>.weight`).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Target::QProj => "attn_q",
            Target::KProj => "attn_k",
            Target::VProj => "attn_v",
            Target::OProj => "attn_output",
            Target::GateProj => "ffn_gate",
            Target::UpProj => "ffn_up",
            Target::DownProj => "ffn_down",
        }
    }

    fn is_attention(self) -> bool {
        matches!(self, Target::QProj | Target::KProj | Target::VProj | Target::OProj)
    }

    /// `q_proj`, `attn_q`, or the groups `attention`, `mlp`, `all`.
    pub fn parse_list(list: &str) -> Result<Vec<Target>> {
        let mut targets = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let group: Vec<Target> = match word {
                "all" => Target::ALL.to_vec(),
                "attention" => Target::ALL.into_iter().filter(|t| t.is_attention()).collect(),
                "mlp" => Target::ALL.into_iter().filter(|t| !t.is_attention()).collect(),
                _ => match Target::ALL
                    .into_iter()
                    .find(|t| t.peft_name() == word || t.gguf_name() == word)
                {
                    Some(t) => vec![t],
                    None => bail!(
                        "unknown LoRA target `{word}` (q_proj … down_proj, attention, mlp, all)"
                    ),
                },
            };
            for t in group {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        if targets.is_empty() {
            bail!("no LoRA targets given");
        }
        targets.sort();
        Ok(targets)
    }
}

/// The two matrices adapting one weight. Invariant: `a` is `rank × in`, `b` is
/// `out × rank`, both `f32` on the CPU.
#[derive(Debug, Clone)]
pub struct LoraPair {
    pub a: Tensor,
    pub b: Tensor,
}

/// A LoRA adapter for one base model.
///
/// Invariants (checked by [`LoraAdapter::validate`]): `rank >= 1`, every pair has that
/// rank, and every key is a GGUF weight name `blk.N.<target>.weight`.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// `general.architecture` of the base model (`qwen2`, `llama`, …).
    pub arch: String,
    pub rank: usize,
    pub alpha: f32,
    pub pairs: BTreeMap<String, LoraPair>,
}

impl LoraAdapter {
    /// A fresh adapter for the base model in `base_gguf`: `A` drawn uniformly in
    /// `±1/sqrt(in)` (seeded), `B` zero, so it starts as the identity change — the usual
    /// LoRA initialisation.
    pub fn init(
        base_gguf: &Path,
        targets: &[Target],
        rank: usize,
        alpha: f32,
        seed: u64,
    ) -> Result<Self> {
        if rank == 0 {
            bail!("LoRA rank must be at least 1");
        }
        let (arch, shapes) = base_shapes(base_gguf)?;
        let mut rng = SplitMix(seed);
        let mut pairs = BTreeMap::new();
        for (name, (out, inp)) in shapes {
            let Some(target) = target_of(&name) else { continue };
            if !targets.contains(&target) {
                continue;
            }
            let bound = 1.0 / (inp as f32).sqrt();
            let values: Vec<f32> =
                (0..rank * inp).map(|_| (rng.unit() * 2.0 - 1.0) * bound).collect();
            let a = Tensor::from_vec(values, (rank, inp), &Device::Cpu)?;
            let b = Tensor::zeros((out, rank), DType::F32, &Device::Cpu)?;
            pairs.insert(name, LoraPair { a, b });
        }
        if pairs.is_empty() {
            bail!("{} has no weights for the targets {targets:?}", base_gguf.display());
        }
        let adapter = Self { arch, rank, alpha, pairs };
        adapter.validate()?;
        Ok(adapter)
    }

    /// `alpha / rank`, the factor `B·A` is multiplied by.
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }

    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            bail!("LoRA rank must be at least 1");
        }
        for (name, pair) in &self.pairs {
            if target_of(name).is_none() {
                bail!("`{name}` is not an adaptable GGUF weight name");
            }
            let (a_rank, _) = pair.a.dims2()?;
            let (_, b_rank) = pair.b.dims2()?;
            if a_rank != self.rank || b_rank != self.rank {
                bail!(
                    "{name}: A is {:?} and B is {:?}, expected rank {}",
                    pair.a.dims(),
                    pair.b.dims(),
                    self.rank
                );
            }
        }
        Ok(())
    }

    /// Writes the adapter as llama.cpp loads it: `general.type = adapter`,
    /// `adapter.type = lora`, `adapter.lora.alpha`, tensors `<weight>.lora_a` / `.lora_b`.
    pub fn save_gguf(&self, path: &Path) -> Result<()> {
        self.validate()?;
        let mut tensors = Vec::new();
        for (name, pair) in &self.pairs {
            let base = name.trim_end_matches(".weight");
            tensors.push((
                format!("{base}.weight.lora_a"),
                QTensor::quantize(&pair.a, GgmlDType::F32)?,
            ));
            tensors.push((
                format!("{base}.weight.lora_b"),
                QTensor::quantize(&pair.b, GgmlDType::F32)?,
            ));
        }
        let metadata = [
            ("general.architecture", Value::String(self.arch.clone())),
            ("general.type", Value::String("adapter".into())),
            ("adapter.type", Value::String("lora".into())),
            ("adapter.lora.alpha", Value::F32(self.alpha)),
        ];
        let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = BufWriter::new(file);
        gguf_file::write(&mut writer, &metadata, &tensors)?;
        std::io::Write::flush(&mut writer)?;
        Ok(())
    }

    pub fn load_gguf(path: &Path) -> Result<Self> {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let content = gguf_file::Content::read(&mut file)
            .with_context(|| format!("{} is not GGUF", path.display()))?;
        let text = |key: &str| content.metadata.get(key).and_then(|v| v.to_string().ok()).cloned();
        if text("general.type").as_deref() != Some("adapter")
            || text("adapter.type").as_deref() != Some("lora")
        {
            bail!("{} is not a LoRA adapter (general.type / adapter.type)", path.display());
        }
        let arch = text("general.architecture").context("no general.architecture")?;
        let alpha = content
            .metadata
            .get("adapter.lora.alpha")
            .and_then(|v| v.to_f32().ok())
            .context("no adapter.lora.alpha")?;
        let mut pairs = BTreeMap::new();
        let names: Vec<String> =
            content.tensor_infos.keys().filter(|n| n.ends_with(".lora_a")).cloned().collect();
        let mut rank = 0;
        for a_name in names {
            let weight = a_name.trim_end_matches(".lora_a").to_string();
            let b_name = format!("{weight}.lora_b");
            let a = content.tensor(&mut file, &a_name, &Device::Cpu)?.dequantize(&Device::Cpu)?;
            let b = content
                .tensor(&mut file, &b_name, &Device::Cpu)
                .with_context(|| format!("{a_name} has no {b_name}"))?
                .dequantize(&Device::Cpu)?;
            rank = a.dims2()?.0;
            pairs.insert(weight, LoraPair { a, b });
        }
        let adapter = Self { arch, rank, alpha, pairs };
        adapter.validate()?;
        Ok(adapter)
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` into `dir`, as PEFT
    /// saves them, for a base model PEFT knows as `base_model`.
    ///
    /// `heads` is needed (and used) only for a llama-architecture adapter of `q`/`k`.
    pub fn save_peft(&self, dir: &Path, base_model: &str, heads: Option<Heads>) -> Result<()> {
        self.validate()?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tensors = std::collections::HashMap::new();
        let mut targets = Vec::new();
        for (name, pair) in &self.pairs {
            let (layer, target) = split_gguf_name(name).context("bad weight name")?;
            let group = if target.is_attention() { "self_attn" } else { "mlp" };
            let prefix =
                format!("base_model.model.model.layers.{layer}.{group}.{}", target.peft_name());
            let b = match self.permuted_heads(target, heads)? {
                Some(n) => rows_gguf_to_hf(&pair.b, n)?,
                None => pair.b.clone(),
            };
            tensors.insert(format!("{prefix}.lora_A.weight"), pair.a.clone());
            tensors.insert(format!("{prefix}.lora_B.weight"), b);
            if !targets.contains(&target.peft_name()) {
                targets.push(target.peft_name());
            }
        }
        candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors"))?;
        let config = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model,
            "r": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": 0.0,
            "bias": "none",
            "target_modules": targets,
            "fan_in_fan_out": false,
            "inference_mode": true,
        });
        std::fs::write(dir.join("adapter_config.json"), serde_json::to_string_pretty(&config)?)?;
        Ok(())
    }

    /// Reads a PEFT adapter directory for a base model of architecture `arch`; `heads` as
    /// for [`LoraAdapter::save_peft`].
    pub fn load_peft(dir: &Path, arch: &str, heads: Option<Heads>) -> Result<Self> {
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("adapter_config.json"))
                .with_context(|| format!("{} has no adapter_config.json", dir.display()))?,
        )?;
        if config["peft_type"] != "LORA" {
            bail!("{}: peft_type is {}, not LORA", dir.display(), config["peft_type"]);
        }
        let rank = config["r"].as_u64().context("adapter_config.json has no r")? as usize;
        let alpha =
            config["lora_alpha"].as_f64().context("adapter_config.json has no lora_alpha")? as f32;
        let tensors =
            candle_core::safetensors::load(dir.join("adapter_model.safetensors"), &Device::Cpu)?;
        let mut pairs = BTreeMap::new();
        for (name, a) in &tensors {
            let Some(prefix) = name.strip_suffix(".lora_A.weight") else { continue };
            let b = tensors
                .get(&format!("{prefix}.lora_B.weight"))
                .with_context(|| format!("{name} has no lora_B"))?;
            let weight =
                gguf_name_of_peft(prefix).with_context(|| format!("cannot place `{name}`"))?;
            pairs.insert(
                weight,
                LoraPair { a: a.to_dtype(DType::F32)?, b: b.to_dtype(DType::F32)? },
            );
        }
        let mut adapter = Self { arch: arch.to_string(), rank, alpha, pairs: BTreeMap::new() };
        for (weight, pair) in pairs {
            let target = target_of(&weight).context("bad weight name")?;
            let b = match adapter.permuted_heads(target, heads)? {
                Some(n) => rows_hf_to_gguf(&pair.b, n)?,
                None => pair.b,
            };
            adapter.pairs.insert(weight, LoraPair { a: pair.a, b });
        }
        adapter.validate()?;
        Ok(adapter)
    }

    /// The number of heads whose rows llama.cpp's converter interleaved in `target`'s
    /// weight, if it did (llama's `q` and `k`); an error if that needs `heads` and there
    /// are none.
    fn permuted_heads(&self, target: Target, heads: Option<Heads>) -> Result<Option<usize>> {
        if self.arch != "llama" || !matches!(target, Target::QProj | Target::KProj) {
            return Ok(None);
        }
        let heads = heads.context(
            "llama-architecture q/k weights are row-permuted in GGUF: converting their \
             adapters between GGUF and PEFT needs the base model's head counts (--model)",
        )?;
        Ok(Some(if target == Target::QProj { heads.n_head } else { heads.n_head_kv }))
    }
}

/// Attention head counts of a base model: what it takes to move llama `q`/`k` adapters
/// between PEFT's row order and GGUF's. Invariant: both are at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    pub n_head: usize,
    pub n_head_kv: usize,
}

impl Heads {
    /// The head counts in a GGUF model's metadata.
    pub fn of_base(path: &Path) -> Result<Self> {
        let (_, content, arch) = open_gguf(path)?;
        let count = |key: &str| -> Result<usize> {
            let value = content
                .metadata
                .get(&format!("{arch}.{key}"))
                .with_context(|| format!("{} has no {arch}.{key}", path.display()))?;
            let n = value
                .to_u32()
                .map(|n| n as usize)
                .or_else(|_| value.to_u64().map(|n| n as usize))?;
            if n == 0 {
                bail!("{}: {arch}.{key} is 0", path.display());
            }
            Ok(n)
        };
        Ok(Self {
            n_head: count("attention.head_count")?,
            n_head_kv: count("attention.head_count_kv")?,
        })
    }
}

/// Hugging Face row order → GGUF's for a llama `q`/`k` weight (or its `B`): within each
/// of the `heads` heads of size `D`, row `s·D/2 + j` moves to `2j + s` — the rotary
/// halves become adjacent pairs, as llama.cpp's converter lays them out.
fn rows_hf_to_gguf(b: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, rank) = b.dims2()?;
    check_heads(out, heads)?;
    Ok(b.reshape((heads, 2, out / heads / 2, rank))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, rank))?)
}

/// The inverse of [`rows_hf_to_gguf`].
fn rows_gguf_to_hf(b: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, rank) = b.dims2()?;
    check_heads(out, heads)?;
    Ok(b.reshape((heads, out / heads / 2, 2, rank))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, rank))?)
}

fn check_heads(rows: usize, heads: usize) -> Result<()> {
    if heads == 0 || !rows.is_multiple_of(2 * heads) {
        bail!("{rows} rows do not split into {heads} heads of an even size");
    }
    Ok(())
}

/// `(out, in)` of a model's 2-D weights, by GGUF name.
pub type WeightShapes = BTreeMap<String, (usize, usize)>;

/// `general.architecture` and `(out, in)` of every 2-D weight of a GGUF model.
pub fn base_shapes(path: &Path) -> Result<(String, WeightShapes)> {
    let (_, content, arch) = open_gguf(path)?;
    let shapes = content
        .tensor_infos
        .iter()
        .filter_map(|(name, info)| match info.shape.dims() {
            [out, inp] => Some((name.clone(), (*out, *inp))),
            _ => None,
        })
        .collect();
    Ok((arch, shapes))
}

/// A GGUF file opened and its header read, with its `general.architecture`.
pub(crate) fn open_gguf(path: &Path) -> Result<(std::fs::File, gguf_file::Content, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let content = gguf_file::Content::read(&mut file)
        .with_context(|| format!("{} is not GGUF", path.display()))?;
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .with_context(|| format!("{} names no general.architecture", path.display()))?;
    Ok((file, content, arch))
}

/// The target of a GGUF weight name `blk.N.<target>.weight`.
fn target_of(name: &str) -> Option<Target> {
    split_gguf_name(name).map(|(_, t)| t)
}

fn split_gguf_name(name: &str) -> Option<(usize, Target)> {
    let rest = name.strip_prefix("blk.")?.strip_suffix(".weight")?;
    let (layer, tensor) = rest.split_once('.')?;
    let target = Target::ALL.into_iter().find(|t| t.gguf_name() == tensor)?;
    Some((layer.parse().ok()?, target))
}

/// `base_model.model.model.layers.3.self_attn.q_proj` → `blk.3.attn_q.weight`.
fn gguf_name_of_peft(prefix: &str) -> Option<String> {
    let rest = prefix.split("layers.").nth(1)?;
    let (layer, rest) = rest.split_once('.')?;
    let module = rest.rsplit('.').next()?;
    let target = Target::ALL.into_iter().find(|t| t.peft_name() == module)?;
    Some(format!("blk.{}.{}.weight", layer.parse::<usize>().ok()?, target.gguf_name()))
}

/// A small seeded generator (SplitMix64) for initial weights and example order:
/// reproducible runs without a dependency for two loops.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(arch: &str) -> LoraAdapter {
        let mut pairs = BTreeMap::new();
        for (i, name) in ["blk.0.attn_q.weight", "blk.1.ffn_down.weight"].iter().enumerate() {
            let a = Tensor::arange(0f32, 2.0 * 8.0, &Device::Cpu).unwrap().reshape((2, 8)).unwrap();
            let b = (Tensor::ones((4, 2), DType::F32, &Device::Cpu).unwrap() * (i as f64 + 0.5))
                .unwrap();
            pairs.insert(name.to_string(), LoraPair { a, b });
        }
        LoraAdapter { arch: arch.into(), rank: 2, alpha: 4.0, pairs }
    }

    fn same(x: &LoraAdapter, y: &LoraAdapter) {
        assert_eq!((x.rank, x.alpha, &x.arch), (y.rank, y.alpha, &y.arch));
        assert_eq!(x.pairs.keys().collect::<Vec<_>>(), y.pairs.keys().collect::<Vec<_>>());
        for (name, p) in &x.pairs {
            let q = &y.pairs[name];
            assert_eq!(p.a.to_vec2::<f32>().unwrap(), q.a.to_vec2::<f32>().unwrap(), "{name} A");
            assert_eq!(p.b.to_vec2::<f32>().unwrap(), q.b.to_vec2::<f32>().unwrap(), "{name} B");
        }
    }

    #[test]
    fn gguf_round_trip_keeps_every_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gguf");
        let adapter = synthetic("qwen2");
        adapter.save_gguf(&path).unwrap();
        same(&adapter, &LoraAdapter::load_gguf(&path).unwrap());
    }

    #[test]
    fn peft_round_trip_names_modules_as_peft_does() {
        let dir = tempfile::tempdir().unwrap();
        let adapter = synthetic("qwen2");
        adapter.save_peft(dir.path(), "Qwen/Qwen2.5-Coder-0.5B-Instruct", None).unwrap();
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["r"], 2);
        assert_eq!(config["target_modules"], serde_json::json!(["q_proj", "down_proj"]));
        let tensors = candle_core::safetensors::load(
            dir.path().join("adapter_model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        assert!(
            tensors.contains_key("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
        );
        assert!(tensors.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
        same(&adapter, &LoraAdapter::load_peft(dir.path(), "qwen2", None).unwrap());
    }

    #[test]
    fn llama_attention_needs_head_counts_for_peft() {
        let dir = tempfile::tempdir().unwrap();
        let err = synthetic("llama").save_peft(dir.path(), "x", None).unwrap_err().to_string();
        assert!(err.contains("head counts"), "{err}");
    }

    #[test]
    fn llama_query_rows_are_interleaved_per_head_and_back() {
        // Two heads of size 4: HF rows [h0: 0 1 | 2 3, h1: 4 5 | 6 7] (rotary halves) are
        // GGUF rows [0 2 1 3, 4 6 5 7] (adjacent pairs).
        let b = Tensor::arange(0f32, 8.0, &Device::Cpu).unwrap().reshape((8, 1)).unwrap();
        let gguf = rows_hf_to_gguf(&b, 2).unwrap();
        assert_eq!(
            gguf.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [0., 2., 1., 3., 4., 6., 5., 7.]
        );
        let back = rows_gguf_to_hf(&gguf, 2).unwrap();
        assert_eq!(back.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        assert!(rows_hf_to_gguf(&b, 3).is_err());
    }

    #[test]
    fn llama_peft_round_trip_permutes_only_query_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut adapter = synthetic("llama");
        let rows = Tensor::arange(0f32, 8.0, &Device::Cpu).unwrap().reshape((4, 2)).unwrap();
        adapter.pairs.get_mut("blk.0.attn_q.weight").unwrap().b = rows;
        let heads = Some(Heads { n_head: 1, n_head_kv: 1 });
        adapter.save_peft(dir.path(), "x", heads).unwrap();
        let tensors = candle_core::safetensors::load(
            dir.path().join("adapter_model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        let q_b = &tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"];
        // GGUF rows [r0 r1 r2 r3] of one head of size 4 are HF rows [r0 r2 r1 r3].
        assert_eq!(q_b.to_vec2::<f32>().unwrap(), [[0., 1.], [4., 5.], [2., 3.], [6., 7.]]);
        same(&adapter, &LoraAdapter::load_peft(dir.path(), "llama", heads).unwrap());
    }

    #[test]
    fn targets_parse_names_and_groups() {
        assert_eq!(Target::parse_list("attention").unwrap().len(), 4);
        assert_eq!(
            Target::parse_list("q_proj, attn_v").unwrap(),
            vec![Target::QProj, Target::VProj]
        );
        assert_eq!(Target::parse_list("all").unwrap().len(), 7);
        assert!(Target::parse_list("lm_head").is_err());
        assert!(Target::parse_list("").is_err());
    }

    #[test]
    fn a_bad_rank_is_refused() {
        let mut adapter = synthetic("qwen2");
        adapter.rank = 3;
        assert!(adapter.validate().is_err());
    }
}
