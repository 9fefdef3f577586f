//! GRPO end to end on SmolLM2-135M: rollouts from the real engine running the adapter,
//! rewards from the real checker, updates that move the adapter.

use hypatia_llm::{EngineConfig, ModelStore};
use hypatia_train::adapter::{LoraAdapter, Target};
use hypatia_train::grpo::{GrpoConfig, GrpoTrainer, Task};

#[test]
fn grpo_samples_groups_rewards_them_and_updates_the_adapter() {
    let base = ModelStore::default().ensure("smollm2-135m").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tasks = vec![
        Task { question: "What is 2 + 2?".into(), gold: "4".into() },
        Task { question: "What is 3 times 5?".into(), gold: "15".into() },
    ];
    let config = GrpoConfig {
        group: 4,
        prompts_per_step: 2,
        steps: 2,
        max_tokens: 48,
        lr: 1e-3,
        rank: 4,
        alpha: 8.0,
        targets: vec![Target::VProj, Target::OProj],
        ..GrpoConfig::default()
    };
    let start = LoraAdapter::init(&base, &config.targets, config.rank, config.alpha, 1).unwrap();
    let trainer = GrpoTrainer {
        base_gguf: base,
        model_name: "smollm2-135m".into(),
        work_dir: dir.path().to_path_buf(),
        engine: EngineConfig {
            n_ctx: 2048,
            n_seq_max: 4,
            prefix_cache_seqs: 0,
            ..EngineConfig::default()
        },
    };
    let (adapter, history) = trainer.run(&tasks, start, &config, &mut |_| {}).unwrap();
    assert_eq!(history.len(), 2);
    for step in &history {
        assert_eq!(step.rollouts, 8, "K = 4 rollouts for each of 2 problems");
        assert!((0.0..=1.2).contains(&step.reward), "{step:?}");
    }
    let used: usize = history.iter().map(|s| s.groups_used).sum();
    assert!(used > 0, "sampled at temperature 1, some group's rewards differ: {history:?}");
    let moved = adapter
        .pairs
        .values()
        .any(|p| p.b.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
    assert!(moved, "an update with signal moves B away from zero");
    assert!(history.iter().any(|s| s.kl.is_some_and(|kl| kl >= 0.0)));
}
