//! The embedded llama.cpp engine: one thread owns the context, callers talk to it over
//! channels, and every running request shares one batch (continuous batching).
//!
//! `llama-cpp-2` contexts are not `Sync` and several contexts on one model are unsound in
//! that crate, so exactly one engine thread owns the `LlamaContext`. Callers on any thread
//! render and tokenize their prompt themselves (the model is `Sync`), send a job, and read
//! deltas back. Each engine step puts one token of every generating sample plus a chunk of
//! pending prompts into a single `llama_decode`, so requests join and leave a running batch.
//! The `n` samples of a request run on `n` sequences that share the prompt's KV cells
//! (`kv_cache_seq_cp` into a unified cache): the prompt is computed once. Finished
//! prompts stay in the cache on spare sequence ids, so a later prompt that starts the
//! same way (the next problem after the same few-shot examples, the next turn of a
//! conversation) computes only what is new (see `prefix.rs`).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::backend::{
    Backend, CancelToken, ChatMessage, Choice, Delta, FinishReason, LlmError, Request, Response,
    SamplingParams,
};
use crate::prefix::{PrefixCache, Store};
use crate::text::TextAssembler;

/// How the engine is set up.
///
/// `n_ctx` is the number of KV cells shared by all sequences (the cache is unified): a
/// request reserves `prompt + n * max_tokens` cells and waits while they are not free.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub n_ctx: u32,
    /// Sequences decoded together; also the largest `n` one request may ask for.
    pub n_seq_max: u32,
    /// Tokens per `llama_decode` call.
    pub n_batch: u32,
    /// `None`: the cores that are free right now (see [`crate::cores::free_cores`]).
    pub n_threads: Option<usize>,
    /// Layers offloaded to a GPU when the build has one; ignored by CPU builds.
    pub n_gpu_layers: u32,
    /// Finished sequences kept for prefix reuse (0 turns the prefix cache off).
    pub prefix_cache_seqs: u32,
    /// KV cells the kept sequences may hold together; they are evicted early whenever a
    /// request needs the room, so this bounds the attention cost of cached cells, not
    /// the requests.
    pub prefix_cache_tokens: u32,
    /// A LoRA adapter in GGUF (`general.type = adapter`) applied to every request, and
    /// its scale. Adapters are per context, so an engine runs one adapter or none.
    pub adapter: Option<std::path::PathBuf>,
    pub adapter_scale: f32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            n_ctx: 8192,
            n_seq_max: 8,
            n_batch: 512,
            n_threads: None,
            n_gpu_layers: 999,
            prefix_cache_seqs: 4,
            prefix_cache_tokens: 3072,
            adapter: None,
            adapter_scale: 1.0,
        }
    }
}

/// What the engine actually runs with, after defaults were resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineInfo {
    pub n_ctx: u32,
    pub n_seq_max: u32,
    pub n_batch: u32,
    pub n_threads: usize,
    pub prefix_cache_seqs: u32,
    pub prefix_cache_tokens: u32,
}

/// llama.cpp's global state may be initialised once per process.
pub(crate) fn llama_backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            if std::env::var_os("HYPATIA_LLAMA_LOG").is_none() {
                backend.void_logs();
            }
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| LlmError::Engine(format!("cannot initialise llama.cpp: {e}")))
}

/// The embedded engine. Cheap to share (`Arc<LlamaEngine>` or `&LlamaEngine` across
/// threads); dropping the last handle stops the engine thread.
pub struct LlamaEngine {
    name: String,
    model: Arc<LlamaModel>,
    template: LlamaChatTemplate,
    info: EngineInfo,
    jobs: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for LlamaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaEngine").field("name", &self.name).field("info", &self.info).finish()
    }
}

impl LlamaEngine {
    /// Loads a GGUF model and starts the engine thread.
    pub fn load(
        name: impl Into<String>,
        path: &Path,
        config: &EngineConfig,
    ) -> Result<Self, LlmError> {
        if !path.is_file() {
            return Err(LlmError::Engine(format!("model file {} does not exist", path.display())));
        }
        if config.n_seq_max == 0 || config.n_batch < config.n_seq_max || config.n_ctx < 16 {
            return Err(LlmError::InvalidRequest(
                "engine needs 1 <= n_seq_max <= n_batch and n_ctx >= 16".into(),
            ));
        }
        let backend = llama_backend()?;
        let params = LlamaModelParams::default().with_n_gpu_layers(config.n_gpu_layers);
        let mut model = LlamaModel::load_from_file(backend, path, &params)
            .map_err(|e| LlmError::Engine(format!("cannot load {}: {e}", path.display())))?;
        let adapter = match &config.adapter {
            Some(file) if !file.is_file() => {
                return Err(LlmError::Engine(format!("adapter {} does not exist", file.display())))
            }
            Some(file) => Some((
                model.lora_adapter_init(file).map_err(|e| {
                    LlmError::Engine(format!(
                        "cannot load adapter {} for {}: {e} (is it a GGUF LoRA adapter made \
                         for this model?)",
                        file.display(),
                        path.display()
                    ))
                })?,
                config.adapter_scale,
            )),
            None => None,
        };
        let model = Arc::new(model);
        let template = model
            .chat_template(None)
            .or_else(|_| LlamaChatTemplate::new("chatml"))
            .map_err(|e| LlmError::Engine(format!("chat template: {e}")))?;
        let info = EngineInfo {
            n_ctx: config.n_ctx,
            n_seq_max: config.n_seq_max,
            n_batch: config.n_batch,
            n_threads: config.n_threads.unwrap_or_else(crate::cores::free_cores).max(1),
            prefix_cache_seqs: config.prefix_cache_seqs,
            prefix_cache_tokens: config.prefix_cache_tokens,
        };
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_model = Arc::clone(&model);
        let thread = std::thread::Builder::new()
            .name("hypatia-engine".into())
            .spawn(move || engine_thread(backend, &thread_model, adapter, info, jobs_rx, ready_tx))
            .map_err(|e| LlmError::Engine(format!("cannot start engine thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(LlmError::Engine(e)),
            Err(_) => {
                return Err(LlmError::EngineStopped("engine thread died while starting".into()))
            }
        }
        Ok(Self {
            name: name.into(),
            model,
            template,
            info,
            jobs: Mutex::new(Some(jobs_tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn info(&self) -> EngineInfo {
        self.info
    }

    /// The prompt text the model sees for a request: the GGUF's chat template applied to
    /// the messages, then the forced assistant prefix if any.
    pub fn render_prompt(&self, request: &Request) -> Result<String, LlmError> {
        let mut prompt = self.render_chat(&request.messages, true)?;
        if let Some(prefix) = &request.assistant_prefix {
            prompt.push_str(prefix);
        }
        Ok(prompt)
    }

    /// The GGUF's chat template applied to `messages`; with `add_generation_prompt` it ends
    /// where the assistant's reply begins (what training masks the loss from).
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, LlmError> {
        let messages = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.as_str().to_string(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LlmError::InvalidRequest(format!("message: {e}")))?;
        self.model
            .apply_chat_template(&self.template, &messages, add_generation_prompt)
            .map_err(|e| LlmError::Engine(format!("chat template: {e}")))
    }

    /// Tokenizes text the way prompts are tokenized (special tokens parsed).
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), true, true)
    }

    fn submit(&self, job: Job) -> Result<(), LlmError> {
        let guard = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let sender =
            guard.as_ref().ok_or_else(|| LlmError::EngineStopped("engine shut down".into()))?;
        sender.send(job).map_err(|_| LlmError::EngineStopped("engine thread has exited".into()))
    }
}

impl Drop for LlamaEngine {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

impl Backend for LlamaEngine {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn generate_streaming(
        &self,
        request: &Request,
        on_delta: &mut dyn FnMut(Delta<'_>) -> ControlFlow<()>,
    ) -> Result<Response, LlmError> {
        request.params.validate()?;
        if request.params.n > self.info.n_seq_max {
            return Err(LlmError::InvalidRequest(format!(
                "n = {} exceeds the engine's n_seq_max = {}",
                request.params.n, self.info.n_seq_max
            )));
        }
        if let Some(grammar) = &request.params.grammar {
            // Parsed here, on the caller's thread, so a bad grammar is the caller's error
            // rather than a failure inside the shared batch.
            LlamaSampler::grammar(&self.model, grammar, "root").map_err(|e| {
                LlmError::InvalidRequest(format!("the grammar does not parse: {e}"))
            })?;
        }
        let prompt = self.tokenize(&self.render_prompt(request)?);
        let n = request.params.n as usize;
        // Each sample needs at least one cell of its own beyond the shared prompt.
        if prompt.is_empty() || prompt.len() + n > self.info.n_ctx as usize {
            return Err(LlmError::PromptTooLong {
                prompt: prompt.len(),
                n_ctx: self.info.n_ctx as usize,
            });
        }
        let cancel = request.cancel.clone().unwrap_or_default();
        let (events_tx, events_rx) = mpsc::channel();
        self.submit(Job {
            prompt,
            params: request.params.clone(),
            cancel: cancel.clone(),
            events: events_tx,
        })?;
        let mut stopped_by_callback = false;
        for event in events_rx {
            match event {
                Event::Delta { index, text } => {
                    if !stopped_by_callback && on_delta(Delta { index, text: &text }).is_break() {
                        stopped_by_callback = true;
                        cancel.cancel();
                    }
                }
                Event::Done(response) => return Ok(response),
                Event::Failed(error) => return Err(error),
            }
        }
        Err(LlmError::EngineStopped("engine thread exited during the request".into()))
    }
}

struct Job {
    prompt: Vec<LlamaToken>,
    params: SamplingParams,
    cancel: CancelToken,
    events: Sender<Event>,
}

enum Event {
    Delta { index: u32, text: String },
    Done(Response),
    Failed(LlmError),
}

/// A job admitted to the engine: its sequences and KV cells are reserved.
struct Active {
    job: Job,
    seqs: Vec<i32>,
    reserved: usize,
    /// Per-sample token budget after clamping to the context.
    max_tokens: u32,
    /// Prompt tokens already in the KV cache (all on `seqs[0]`).
    prefilled: usize,
    /// Prompt tokens copied from the prefix cache rather than computed.
    cached: usize,
    /// Batch index of the prompt's last token, set in the step that completes the prompt.
    prompt_logits: Option<i32>,
    samples: Vec<Sample>,
}

impl Active {
    /// Whether the whole prompt is in the KV cache and its logits were sampled.
    fn prompt_done(&self) -> bool {
        self.prefilled == self.job.prompt.len() && self.prompt_logits.is_none()
    }
}

struct Sample {
    index: u32,
    seq: i32,
    sampler: LlamaSampler,
    /// Position the next decoded token takes.
    pos: i32,
    last: LlamaToken,
    assembler: TextAssembler,
    generated: u32,
    finish: Option<FinishReason>,
    /// Where this sample's logits are in the current batch.
    logits: Option<i32>,
}

fn make_sampler(model: &LlamaModel, params: &SamplingParams, index: u32) -> LlamaSampler {
    let mut chain = Vec::new();
    if let Some(grammar) = &params.grammar {
        // Checked when the request was submitted.
        if let Ok(sampler) = LlamaSampler::grammar(model, grammar, "root") {
            chain.push(sampler);
        }
    }
    if params.is_greedy() {
        chain.push(LlamaSampler::greedy());
        return LlamaSampler::chain_simple(chain);
    }
    if params.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(params.top_p, 1));
    }
    chain.push(LlamaSampler::temp(params.temperature));
    chain.push(LlamaSampler::dist(params.seed.wrapping_add(index)));
    LlamaSampler::chain_simple(chain)
}

fn engine_thread(
    backend: &LlamaBackend,
    model: &LlamaModel,
    mut adapter: Option<(LlamaLoraAdapter, f32)>,
    info: EngineInfo,
    jobs: Receiver<Job>,
    ready: Sender<Result<(), String>>,
) {
    let threads = i32::try_from(info.n_threads).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(info.n_ctx))
        .with_n_batch(info.n_batch)
        .with_n_ubatch(info.n_batch)
        .with_n_seq_max(info.n_seq_max + info.prefix_cache_seqs)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_kv_unified(true);
    let mut ctx = match model.new_context(backend, params) {
        Ok(ctx) => ctx,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot create context: {e}")));
            return;
        }
    };
    // The adapter lives in this frame, as long as the context that uses it.
    if let Some((adapter, scale)) = adapter.as_mut() {
        if let Err(e) = ctx.lora_adapter_set(adapter, *scale) {
            let _ = ready.send(Err(format!("cannot apply the adapter: {e}")));
            return;
        }
    }
    let _ = ready.send(Ok(()));
    Scheduler::new(model, ctx, info).run(jobs);
}

struct Scheduler<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    info: EngineInfo,
    batch: LlamaBatch<'static>,
    free_seqs: Vec<i32>,
    free_cells: usize,
    waiting: VecDeque<Job>,
    active: Vec<Active>,
    cache: PrefixCache<LlamaToken>,
}

impl<'m> Scheduler<'m> {
    fn new(model: &'m LlamaModel, ctx: LlamaContext<'m>, info: EngineInfo) -> Self {
        Self {
            model,
            ctx,
            info,
            batch: LlamaBatch::new(info.n_batch as usize, 1),
            free_seqs: (0..info.n_seq_max as i32).rev().collect(),
            free_cells: info.n_ctx as usize,
            waiting: VecDeque::new(),
            active: Vec::new(),
            cache: PrefixCache::new(
                (0..info.prefix_cache_seqs as i32).map(|i| info.n_seq_max as i32 + i),
                info.prefix_cache_tokens as usize,
            ),
        }
    }

    fn run(mut self, jobs: Receiver<Job>) {
        loop {
            if self.active.is_empty() && self.waiting.is_empty() {
                match jobs.recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(_) => return,
                }
            }
            while let Ok(job) = jobs.try_recv() {
                self.waiting.push_back(job);
            }
            self.drop_cancelled_waiting();
            self.admit();
            self.step();
        }
    }

    fn drop_cancelled_waiting(&mut self) {
        self.waiting.retain(|job| {
            if job.cancel.is_cancelled() {
                let choices = (0..job.params.n)
                    .map(|index| Choice {
                        index,
                        text: String::new(),
                        completion_tokens: 0,
                        finish_reason: FinishReason::Cancelled,
                    })
                    .collect();
                let _ = job.events.send(Event::Done(Response {
                    choices,
                    prompt_tokens: job.prompt.len() as u32,
                    cached_tokens: 0,
                    completion_tokens: 0,
                }));
                false
            } else {
                true
            }
        });
    }

    /// Admits waiting jobs in arrival order while sequences and cells are free. A job that
    /// does not fit blocks those behind it, so a big request cannot be starved.
    fn admit(&mut self) {
        while let Some(job) = self.waiting.front() {
            let n = job.params.n as usize;
            let prompt = job.prompt.len();
            // Clamp the budget so that the request fits an otherwise empty context.
            let room_per_sample = (self.info.n_ctx as usize - prompt) / n;
            let max_tokens = (job.params.max_tokens as usize).min(room_per_sample).max(1);
            // The whole prompt is charged even when a cached prefix is reused: the entry it
            // shares cells with may be evicted while this request runs.
            let reserved = prompt + n * max_tokens;
            if self.free_seqs.len() < n {
                return;
            }
            while self.free_cells < reserved {
                let Some((seq, cells)) = self.cache.evict_oldest() else { return };
                let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
                self.free_cells += cells;
            }
            let job = self.waiting.pop_front().expect("front exists");
            let seqs: Vec<i32> = (0..n).map(|_| self.free_seqs.pop().expect("checked")).collect();
            self.free_cells -= reserved;
            let mut cached = 0;
            if let Some((source, shared)) = self.cache.lookup(&job.prompt) {
                let copied =
                    self.ctx.kv_cache_seq_cp(source, seqs[0], Some(0), Some(shared as u32));
                if copied.is_ok() {
                    cached = shared;
                }
            }
            self.active.push(Active {
                job,
                seqs,
                reserved,
                max_tokens: max_tokens as u32,
                prefilled: cached,
                cached,
                prompt_logits: None,
                samples: Vec::new(),
            });
        }
    }

    /// One `llama_decode`: a token for every generating sample, then prompt chunks.
    fn step(&mut self) {
        for active in &mut self.active {
            if active.job.cancel.is_cancelled() {
                for s in active.samples.iter_mut().filter(|s| s.finish.is_none()) {
                    s.finish = Some(FinishReason::Cancelled);
                }
                if active.samples.is_empty() {
                    // Cancelled during prefill: report every sample as cancelled.
                    active.prefilled = active.job.prompt.len();
                }
            }
        }
        self.retire_finished();
        if self.active.is_empty() {
            return;
        }

        self.batch.clear();
        let capacity = self.info.n_batch as usize;
        for active in &mut self.active {
            for s in active.samples.iter_mut().filter(|s| s.finish.is_none()) {
                let idx = self.batch.n_tokens();
                self.batch
                    .add(s.last, s.pos, &[s.seq], true)
                    .expect("batch holds n_seq_max tokens");
                s.logits = Some(idx);
                s.pos += 1;
            }
        }
        for active in &mut self.active {
            let remaining = active.job.prompt.len() - active.prefilled;
            let room = capacity.saturating_sub(self.batch.n_tokens() as usize);
            if remaining == 0 || room == 0 {
                continue;
            }
            let take = remaining.min(room);
            let seq = active.seqs[0];
            for i in active.prefilled..active.prefilled + take {
                let last = i + 1 == active.job.prompt.len();
                let idx = self.batch.n_tokens();
                self.batch
                    .add(active.job.prompt[i], i as i32, &[seq], last)
                    .expect("room was checked");
                if last {
                    active.prompt_logits = Some(idx);
                }
            }
            active.prefilled += take;
        }
        if self.batch.n_tokens() == 0 {
            return;
        }
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            self.fail_all(LlmError::Engine(format!("llama_decode failed: {e}")));
            return;
        }
        self.sample_all();
        self.retire_finished();
    }

    fn sample_all(&mut self) {
        let model = self.model;
        let vocab = model.vocab();
        for active in &mut self.active {
            if let Some(idx) = active.prompt_logits.take() {
                let prompt_len = active.job.prompt.len() as i32;
                for (i, &seq) in active.seqs.iter().enumerate() {
                    if i > 0 {
                        // Share the prompt's cells instead of computing them again.
                        let _ = self.ctx.kv_cache_seq_cp(active.seqs[0], seq, None, None);
                    }
                    let index = i as u32;
                    active.samples.push(Sample {
                        index,
                        seq,
                        sampler: make_sampler(model, &active.job.params, index),
                        pos: prompt_len,
                        last: LlamaToken(0),
                        assembler: TextAssembler::new(&active.job.params.stop),
                        generated: 0,
                        finish: None,
                        logits: Some(idx),
                    });
                }
            }
            for s in active.samples.iter_mut().filter(|s| s.finish.is_none()) {
                let Some(idx) = s.logits.take() else { continue };
                let token = s.sampler.sample(&self.ctx, idx);
                if vocab.is_eog(token) {
                    s.finish = Some(FinishReason::Stop);
                    continue;
                }
                s.generated += 1;
                s.last = token;
                let piece = vocab.token_to_piece(token, false, None);
                let pushed = s.assembler.push(&piece);
                if !pushed.delta.is_empty()
                    && active
                        .job
                        .events
                        .send(Event::Delta { index: s.index, text: pushed.delta })
                        .is_err()
                {
                    active.job.cancel.cancel();
                }
                if pushed.stopped {
                    s.finish = Some(FinishReason::Stop);
                } else if s.generated >= active.max_tokens {
                    s.finish = Some(FinishReason::Length);
                }
            }
        }
    }

    /// Frees the sequences of finished samples and completes jobs whose samples all ended.
    fn retire_finished(&mut self) {
        let mut i = 0;
        while i < self.active.len() {
            let active = &mut self.active[i];
            let prompt_done = active.prompt_done();
            let cancelled_in_prefill =
                active.samples.is_empty() && active.job.cancel.is_cancelled();
            let all_done = (prompt_done
                && !active.samples.is_empty()
                && active.samples.iter().all(|s| s.finish.is_some()))
                || cancelled_in_prefill;
            if !all_done {
                i += 1;
                continue;
            }
            let active = self.active.swap_remove(i);
            self.free_cells += active.reserved;
            self.keep_prefix(&active);
            for &seq in &active.seqs {
                let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
                self.free_seqs.push(seq);
            }
            let response = finish_response(&active.job, active.cached, active.samples);
            let _ = active.job.events.send(Event::Done(response));
        }
    }

    /// Offers a finished request's prompt to the prefix cache, copying its cells before
    /// the request's sequences are freed.
    ///
    /// Only the prompt is kept, not the generated tokens after it: with generated cells
    /// kept as well, seeded sampling in later requests that reused the prompt drifted from
    /// an uncached run (greedy output did not), and the cause is not understood yet, so the
    /// engine keeps to what its tests show identical to an uncached run, greedy and seeded
    /// sampling (tests/engine_smollm2.rs).
    fn keep_prefix(&mut self, active: &Active) {
        // A request cancelled during prefill is marked prefilled without its cells.
        if active.samples.is_empty() || !active.prompt_done() {
            return;
        }
        let prompt = &active.job.prompt;
        if let Store::Into { seq, evicted, freed } = self.cache.store(prompt) {
            for old in evicted.into_iter().chain([seq]) {
                let _ = self.ctx.kv_cache_seq_rm(old, None, None);
            }
            let _ =
                self.ctx.kv_cache_seq_cp(active.seqs[0], seq, Some(0), Some(prompt.len() as u32));
            // The request's reservation, just released, covered these cells.
            self.free_cells = self.free_cells + freed - prompt.len();
        }
    }

    fn fail_all(&mut self, error: LlmError) {
        for active in self.active.drain(..) {
            let _ = active.job.events.send(Event::Failed(LlmError::Engine(error.to_string())));
            for &seq in &active.seqs {
                self.free_seqs.push(seq);
            }
        }
        self.ctx.clear_kv_cache();
        self.cache.clear();
        self.free_cells = self.info.n_ctx as usize;
    }
}

fn finish_response(job: &Job, cached: usize, mut samples: Vec<Sample>) -> Response {
    let (n, events) = (job.params.n, &job.events);
    samples.sort_by_key(|s| s.index);
    let mut choices = Vec::with_capacity(n as usize);
    for index in 0..n {
        let choice = match samples.iter_mut().find(|s| s.index == index) {
            Some(s) => {
                let tail = s.assembler.finish();
                if !tail.is_empty() {
                    let _ = events.send(Event::Delta { index, text: tail });
                }
                Choice {
                    index,
                    text: s.assembler.text().to_string(),
                    completion_tokens: s.generated,
                    finish_reason: s.finish.unwrap_or(FinishReason::Cancelled),
                }
            }
            None => Choice {
                index,
                text: String::new(),
                completion_tokens: 0,
                finish_reason: FinishReason::Cancelled,
            },
        };
        choices.push(choice);
    }
    let completion_tokens = choices.iter().map(|c| c.completion_tokens).sum();
    Response {
        choices,
        prompt_tokens: job.prompt.len() as u32,
        cached_tokens: cached as u32,
        completion_tokens,
    }
}
