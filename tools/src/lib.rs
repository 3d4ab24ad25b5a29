//! `camoe-tools`: the training side of the camoe project — the ad-log simulator,
//! the CAMoE trainer and its baselines (candle), metrics, and NNEF export (tract).

pub mod config;
pub mod convert;
pub mod data;
pub mod export;
pub mod metrics;
pub mod model;
pub mod obd;
pub mod sim;
pub mod train;
