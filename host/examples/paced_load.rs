//! An open-loop load generator for latency at a fixed rate: it POSTs one body to one URL at
//! `RATE` requests per second for `SECONDS`, whatever the server's answers do, and reports the
//! achieved rate and the latency percentiles.
//!
//! wrk is closed-loop (each connection waits for its answer before sending again), so a slow
//! server slows the load and its latency looks better than a client would see it. Here each
//! request has a slot in a fixed schedule, and its latency counts from that slot (after this
//! process's own timer lateness, up to a millisecond, which is the generator's fault), so a
//! request that waits for a free connection is charged the wait.
//!
//! Run: `cargo run --release --example paced_load -- http://127.0.0.1:8080/hooks/x 7000 20 \
//!       --body body.json --header 'content-type: application/json'`

use anyhow::Context;
use clap::Parser;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Args {
    url: String,
    /// Requests per second.
    rate: f64,
    /// Seconds of load.
    seconds: f64,
    /// Most requests in flight (and connections).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// The file whose bytes every request carries.
    #[arg(long)]
    body: std::path::PathBuf,
    /// An extra header, `name: value`; repeatable.
    #[arg(long)]
    header: Vec<String>,
}

/// Latency of a request that got no 2xx answer.
const FAILED: u32 = u32::MAX;
/// Latency of a request that never finished (still in flight when the run ended).
const PENDING: u32 = u32::MAX - 1;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rate > 0.0 && args.seconds > 0.0, "rate and seconds must be positive");
    let body = bytes::Bytes::from(std::fs::read(&args.body).with_context(|| format!("reading {:?}", args.body))?);
    let mut headers = reqwest::header::HeaderMap::new();
    for h in &args.header {
        let (name, value) = h.split_once(':').with_context(|| format!("header {h:?} is not `name: value`"))?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())?,
            reqwest::header::HeaderValue::from_str(value.trim())?,
        );
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    let total = (args.rate * args.seconds).round() as usize;
    let latency_us: Arc<Vec<AtomicU32>> = Arc::new((0..total).map(|_| AtomicU32::new(PENDING)).collect());
    let non_2xx = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(Semaphore::new(args.connections));
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(start + interval.mul_f64(i as f64)).await;
        let sent = Instant::now();
        let permit = in_flight.clone().acquire_owned().await?;
        let request = client.post(&args.url).headers(headers.clone()).body(body.clone());
        let (latency_us, non_2xx) = (latency_us.clone(), non_2xx.clone());
        tokio::spawn(async move {
            let ok = matches!(request.send().await, Ok(r) if r.status().is_success());
            let us = if ok { sent.elapsed().as_micros().min(u128::from(PENDING - 1)) as u32 } else { FAILED };
            if !ok {
                non_2xx.fetch_add(1, Ordering::Relaxed);
            }
            latency_us[i].store(us, Ordering::Relaxed);
            drop(permit);
        });
    }
    let scheduled = start.elapsed();
    // Let the last requests finish (bounded: a request still out after 10 s counts as pending).
    let _ = tokio::time::timeout(Duration::from_secs(10), in_flight.acquire_many(args.connections as u32)).await;
    let elapsed = start.elapsed();

    let mut ok: Vec<u32> = latency_us.iter().map(|l| l.load(Ordering::Relaxed)).filter(|&l| l < PENDING).collect();
    ok.sort_unstable();
    let pending = latency_us.iter().filter(|l| l.load(Ordering::Relaxed) == PENDING).count();
    let pct = |p: f64| ok.get(((ok.len() as f64 * p) as usize).min(ok.len().saturating_sub(1))).copied();
    let ms = |v: Option<u32>| v.map_or("-".to_string(), |us| format!("{:.2}ms", f64::from(us) / 1000.0));
    println!("target_rate {:.0}", args.rate);
    println!("achieved_rate {:.0}", total as f64 / scheduled.as_secs_f64());
    println!("completed {} in {:.1}s", ok.len(), elapsed.as_secs_f64());
    println!("non_2xx {} pending {}", non_2xx.load(Ordering::Relaxed), pending);
    println!("p50 {}", ms(pct(0.50)));
    println!("p90 {}", ms(pct(0.90)));
    println!("p99 {}", ms(pct(0.99)));
    println!("p99.9 {}", ms(pct(0.999)));
    println!("max {}", ms(ok.last().copied()));
    Ok(())
}
