//! The base model as a differentiable function, for training LoRA adapters on the CPU.
//!
//! Weights come from the same GGUF file the engine runs, dequantised to `f32` and frozen;
//! only the adapter's `A` and `B` are [`Var`]s. Every operation is composed from
//! candle-core's differentiable primitives (no fused kernels), because the fused ones do
//! not all have backward passes — slower, but gradients are right by construction. Two
//! architectures are covered: `llama` (SmolLM2) and `qwen2` (Qwen2.5, with q/k/v biases).
//! Their rotary embeddings differ as llama.cpp runs them: `llama` GGUF files rotate
//! adjacent pairs (the converter permuted q/k rows for it), `qwen2` rotates halves.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor, Var, D};

use crate::adapter::{LoraAdapter, LoraPair};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rope {
    /// Adjacent pairs `(x[2i], x[2i+1])` (llama.cpp's "normal" rope).
    Pairs,
    /// Halves `(x[i], x[i + d/2])` (NeoX style).
    Halves,
}

struct Layer {
    attn_norm: Tensor,
    q: Tensor,
    q_bias: Option<Tensor>,
    k: Tensor,
    k_bias: Option<Tensor>,
    v: Tensor,
    v_bias: Option<Tensor>,
    o: Tensor,
    ffn_norm: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

/// A frozen base model.
pub struct BaseModel {
    pub arch: String,
    rope: Rope,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Tensor,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    rope_base: f32,
    eps: f64,
}

/// The adapter's matrices as trainable variables, in the adapter's key order.
pub struct LoraVars {
    pub scale: f64,
    vars: BTreeMap<String, (Var, Var)>,
}

impl LoraVars {
    pub fn new(adapter: &LoraAdapter) -> Result<Self> {
        let vars = adapter
            .pairs
            .iter()
            .map(|(name, p)| Ok((name.clone(), (Var::from_tensor(&p.a)?, Var::from_tensor(&p.b)?))))
            .collect::<Result<_>>()?;
        Ok(Self { scale: adapter.scale() as f64, vars })
    }

    /// No adapter at all: the base model, as GRPO's reference policy.
    pub fn none() -> Self {
        Self { scale: 0.0, vars: BTreeMap::new() }
    }

    pub fn all(&self) -> Vec<Var> {
        self.vars.values().flat_map(|(a, b)| [a.clone(), b.clone()]).collect()
    }

    /// The current values, written back into `adapter`.
    pub fn store_into(&self, adapter: &mut LoraAdapter) -> Result<()> {
        for (name, (a, b)) in &self.vars {
            adapter.pairs.insert(
                name.clone(),
                LoraPair { a: a.as_tensor().detach(), b: b.as_tensor().detach() },
            );
        }
        Ok(())
    }

    fn pair(&self, name: &str) -> Option<&(Var, Var)> {
        self.vars.get(name)
    }
}

impl BaseModel {
    pub fn load(path: &Path) -> Result<Self> {
        let (mut file, content, arch) = crate::adapter::open_gguf(path)?;
        let meta = |key: &str| content.metadata.get(key);
        let rope = match arch.as_str() {
            "llama" => Rope::Pairs,
            "qwen2" => Rope::Halves,
            other => bail!("training supports llama and qwen2 models, not `{other}`"),
        };
        let number = |key: &str| -> Result<f64> {
            let v = meta(&format!("{arch}.{key}")).with_context(|| format!("no {arch}.{key}"))?;
            Ok(v.to_u32().map(f64::from).or_else(|_| v.to_f32().map(f64::from))?)
        };
        let dim = number("embedding_length")? as usize;
        let n_head = number("attention.head_count")? as usize;
        let n_kv_head = number("attention.head_count_kv")? as usize;
        let n_layer = number("block_count")? as usize;
        let rope_base = number("rope.freq_base").unwrap_or(10_000.0) as f32;
        let eps = number("attention.layer_norm_rms_epsilon")?;
        let mut tensor = |name: &str| -> Result<Tensor> {
            Ok(content.tensor(&mut file, name, &Device::Cpu)?.dequantize(&Device::Cpu)?)
        };
        let embed = tensor("token_embd.weight")?;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut w = |n: &str| tensor(&format!("blk.{i}.{n}"));
            let q = w("attn_q.weight")?;
            let k = w("attn_k.weight")?;
            let v = w("attn_v.weight")?;
            let (q_bias, k_bias, v_bias) = if arch == "qwen2" {
                (Some(w("attn_q.bias")?), Some(w("attn_k.bias")?), Some(w("attn_v.bias")?))
            } else {
                (None, None, None)
            };
            layers.push(Layer {
                attn_norm: w("attn_norm.weight")?,
                q,
                q_bias,
                k,
                k_bias,
                v,
                v_bias,
                o: w("attn_output.weight")?,
                ffn_norm: w("ffn_norm.weight")?,
                gate: w("ffn_gate.weight")?,
                up: w("ffn_up.weight")?,
                down: w("ffn_down.weight")?,
            });
        }
        let norm = tensor("output_norm.weight")?;
        // Small models tie the output projection to the embeddings.
        let output = if content.tensor_infos.contains_key("output.weight") {
            tensor("output.weight")?
        } else {
            embed.clone()
        };
        Ok(Self {
            arch,
            rope,
            embed,
            layers,
            norm,
            output,
            n_head,
            n_kv_head,
            head_dim: dim / n_head,
            rope_base,
            eps,
        })
    }

    /// The hidden state after the final norm for each position of `tokens` (`T × dim`).
    pub fn hidden(&self, tokens: &[u32], lora: &LoraVars) -> Result<Tensor> {
        let t = tokens.len();
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let (cos, sin) = self.rope_tables(t)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let name = |n: &str| format!("blk.{i}.{n}.weight");
            let h = rms_norm(&x, &layer.attn_norm, self.eps)?;
            let q = linear(&h, &layer.q, layer.q_bias.as_ref(), lora, &name("attn_q"))?;
            let k = linear(&h, &layer.k, layer.k_bias.as_ref(), lora, &name("attn_k"))?;
            let v = linear(&h, &layer.v, layer.v_bias.as_ref(), lora, &name("attn_v"))?;
            let heads = |x: Tensor, n: usize| -> Result<Tensor> {
                Ok(x.reshape((t, n, self.head_dim))?.transpose(0, 1)?.contiguous()?)
            };
            let q = self.rotate(&heads(q, self.n_head)?, &cos, &sin)?;
            let k = self.rotate(&heads(k, self.n_kv_head)?, &cos, &sin)?;
            let v = heads(v, self.n_kv_head)?;
            let (k, v) = (self.repeat_kv(k)?, self.repeat_kv(v)?);
            // Scaling q (T × d) instead of the scores (T × T) keeps one fewer T × T tensor
            // alive for the backward pass; so does the fused masked softmax.
            let q = (q * (1.0 / (self.head_dim as f64).sqrt()))?;
            let weights = q.matmul(&k.t()?)?.apply_op1(CausalSoftmax)?;
            let attended = weights.matmul(&v)?.transpose(0, 1)?.reshape((t, ()))?;
            x = (x + linear(&attended, &layer.o, None, lora, &name("attn_output"))?)?;
            let h = rms_norm(&x, &layer.ffn_norm, self.eps)?;
            let gate = linear(&h, &layer.gate, None, lora, &name("ffn_gate"))?.silu()?;
            let up = linear(&h, &layer.up, None, lora, &name("ffn_up"))?;
            x = (x + linear(&(gate * up)?, &layer.down, None, lora, &name("ffn_down"))?)?;
        }
        rms_norm(&x, &self.norm, self.eps)
    }

    /// Logits of the rows of `hidden` (`N × vocab`).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(hidden.apply_op1(FrozenLinear(self.output.clone()))?)
    }

    /// Mean cross-entropy of predicting `tokens[p + 1]` at every position `p` whose next
    /// token is a trained one (`trained[p + 1]`): the loss on the assistant's tokens only.
    pub fn loss(&self, tokens: &[u32], trained: &[bool], lora: &LoraVars) -> Result<Tensor> {
        Ok(self.token_logprobs(tokens, trained, lora)?.mean_all()?.neg()?)
    }

    /// Log-probability of each trained token given what precedes it (`N`, one per
    /// position `p` with `trained[p + 1]`).
    pub fn token_logprobs(
        &self,
        tokens: &[u32],
        trained: &[bool],
        lora: &LoraVars,
    ) -> Result<Tensor> {
        let positions: Vec<u32> = (0..tokens.len().saturating_sub(1))
            .filter(|&p| trained[p + 1])
            .map(|p| p as u32)
            .collect();
        if positions.is_empty() {
            bail!("an example has no trained tokens");
        }
        let targets: Vec<u32> = positions.iter().map(|&p| tokens[p as usize + 1]).collect();
        let hidden = self.hidden(tokens, lora)?;
        let rows = hidden.index_select(&Tensor::new(positions.as_slice(), &Device::Cpu)?, 0)?;
        let logprobs = candle_nn::ops::log_softmax(&self.logits(&rows)?, D::Minus1)?;
        let targets = Tensor::new(targets.as_slice(), &Device::Cpu)?.unsqueeze(1)?;
        Ok(logprobs.gather(&targets, 1)?.squeeze(1)?)
    }

    fn rope_tables(&self, t: usize) -> Result<(Tensor, Tensor)> {
        let half = self.head_dim / 2;
        let freqs: Vec<f32> = (0..half)
            .map(|i| self.rope_base.powf(-(2.0 * i as f32) / self.head_dim as f32))
            .collect();
        let angles: Vec<f32> =
            (0..t).flat_map(|p| freqs.iter().map(move |f| p as f32 * f)).collect();
        let angles = Tensor::from_vec(angles, (t, half), &Device::Cpu)?;
        Ok((angles.cos()?, angles.sin()?))
    }

    /// Rotary position embedding of `x` (`heads × T × d`).
    fn rotate(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (h, t, d) = x.dims3()?;
        let half = d / 2;
        let (x1, x2) = match self.rope {
            Rope::Halves => (x.narrow(2, 0, half)?, x.narrow(2, half, half)?),
            Rope::Pairs => {
                let pairs = x.reshape((h, t, half, 2))?;
                (pairs.narrow(3, 0, 1)?.squeeze(3)?, pairs.narrow(3, 1, 1)?.squeeze(3)?)
            }
        };
        let r1 = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
        let r2 = (x1.broadcast_mul(sin)? + x2.broadcast_mul(cos)?)?;
        Ok(match self.rope {
            Rope::Halves => Tensor::cat(&[r1, r2], 2)?,
            Rope::Pairs => Tensor::stack(&[r1, r2], 3)?.reshape((h, t, d))?,
        })
    }

    /// Key/value heads shared by groups of query heads (grouped-query attention).
    fn repeat_kv(&self, x: Tensor) -> Result<Tensor> {
        let groups = self.n_head / self.n_kv_head;
        if groups == 1 {
            return Ok(x);
        }
        let (kv, t, d) = x.dims3()?;
        Ok(x.unsqueeze(1)?.expand((kv, groups, t, d))?.contiguous()?.reshape((
            kv * groups,
            t,
            d,
        ))?)
    }
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(x.broadcast_div(&(mean_square + eps)?.sqrt()?)?.broadcast_mul(weight)?)
}

/// `x·Wᵀ (+ bias) + scale·(x·Aᵀ)·Bᵀ` when the adapter adapts this weight.
fn linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    lora: &LoraVars,
    name: &str,
) -> Result<Tensor> {
    let mut y = x.apply_op1(FrozenLinear(weight.clone()))?;
    if let Some(b) = bias {
        y = y.broadcast_add(b)?;
    }
    if let Some((a, b)) = lora.pair(name) {
        let low = x.matmul(&a.as_tensor().t()?)?.matmul(&b.as_tensor().t()?)?;
        y = (y + (low * lora.scale)?)?;
    }
    Ok(y)
}

/// The values of a custom op's input, which these ops need as contiguous `f32`.
fn contiguous_f32<'a>(
    storage: &'a candle_core::CpuStorage,
    layout: &candle_core::Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let candle_core::CpuStorage::F32(values) = storage else {
        candle_core::bail!("{op} needs f32 input");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op} needs a contiguous input");
    };
    Ok(&values[start..end])
}

/// `x·Wᵀ` for a frozen `W`. candle's own matmul backward also computes the gradient of
/// `W` — as much work as the forward pass, and a weight-sized tensor per projection kept
/// until the step ends — although nothing trains `W`. This op's backward gives only the
/// input's gradient, `g·W`.
struct FrozenLinear(Tensor);

impl candle_core::CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let x = Tensor::from_slice(
            contiguous_f32(storage, layout, "frozen linear")?,
            layout.dims(),
            &Device::Cpu,
        )?;
        let y = x.matmul(&self.0.t()?)?;
        let shape = y.shape().clone();
        Ok((candle_core::CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.0)?))
    }
}

/// Softmax over the last dimension of attention scores (`… × T × T`) with the causal mask
/// applied inside: row `i` attends to columns `0..=i`. One op with its own backward
/// (`dx = y·(g − Σ g·y)`) instead of the five that make up a composed, masked softmax,
/// each of which would keep a `T × T` tensor per head and layer until the backward pass.
struct CausalSoftmax;

impl candle_core::CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let values = contiguous_f32(storage, layout, "causal softmax")?;
        let dims = layout.dims();
        let t = dims[dims.len() - 1];
        if dims.len() < 2 || dims[dims.len() - 2] != t {
            candle_core::bail!("causal softmax needs square score matrices, got {dims:?}");
        }
        let mut out = vec![0f32; values.len()];
        for (r, (row, dst)) in values.chunks(t).zip(out.chunks_mut(t)).enumerate() {
            let seen = &row[..=(r % t)];
            let max = seen.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for (d, &x) in dst.iter_mut().zip(seen) {
                *d = (x - max).exp();
                sum += *d;
            }
            dst[..seen.len()].iter_mut().for_each(|d| *d /= sum);
        }
        Ok((candle_core::CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        probs: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let weighted = (grad * probs)?.sum_keepdim(D::Minus1)?;
        Ok(Some(probs.mul(&grad.broadcast_sub(&weighted)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fused_causal_softmax_matches_the_composed_one_and_its_gradient() {
        let scores =
            Var::new(&[[[0.3f32, -1.0, 2.0], [1.5, 0.2, -0.7], [0.0, 0.9, 0.4]]], &Device::Cpu)
                .unwrap();
        let mask = Tensor::new(
            &[
                [0f32, f32::NEG_INFINITY, f32::NEG_INFINITY],
                [0.0, 0.0, f32::NEG_INFINITY],
                [0.0, 0.0, 0.0],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let weights =
            Tensor::new(&[[[1f32, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.3, -0.2, 1.0]]], &Device::Cpu)
                .unwrap();
        let fused = scores.as_tensor().apply_op1(CausalSoftmax).unwrap();
        let composed =
            candle_nn::ops::softmax(&scores.as_tensor().broadcast_add(&mask).unwrap(), D::Minus1)
                .unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(d < 1e-6, "{a} vs {b}");
        };
        close(&fused, &composed);
        let g1 = (fused * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (composed * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        close(g1.get(scores.as_tensor()).unwrap(), g2.get(scores.as_tensor()).unwrap());
    }
}
